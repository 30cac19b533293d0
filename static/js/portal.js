// Small helpers that CSP allows (no inline scripts): copy buttons and the expiry countdown.
document.addEventListener("click", function (e) {
  var btn = e.target.closest("[data-copy]");
  if (!btn) return;
  var target = document.getElementById(btn.getAttribute("data-copy"));
  if (target && navigator.clipboard) {
    navigator.clipboard.writeText(target.textContent.trim()).then(function () { btn.textContent = "Copied"; });
  }
});
function tick() {
  document.querySelectorAll("[data-expires]").forEach(function (el) {
    var end = Date.parse(el.getAttribute("data-expires"));
    if (isNaN(end)) return;
    var left = Math.max(0, Math.floor((end - Date.now()) / 1000));
    el.textContent = left > 0 ? "Expires in " + Math.floor(left / 60) + ":" + String(left % 60).padStart(2, "0") : "Expired";
  });
}
setInterval(tick, 1000); document.addEventListener("DOMContentLoaded", tick);
