// "New verification": show only the chosen provider's fields (CoreID only for CorePass,
// each provider's own items picker). Hidden fields are disabled, so they are not sent;
// the server validates per provider either way (without this script every field shows).
(function () {
  function sync(form) {
    var select = form.querySelector("select[name=provider]");
    var chosen = select ? select.value : "";
    form.querySelectorAll("fieldset.provider-fields").forEach(function (set) {
      var on = set.getAttribute("data-provider") === chosen;
      set.hidden = !on;
      set.querySelectorAll("input, select, textarea").forEach(function (el) { el.disabled = !on; });
    });
  }
  function init() {
    var form = document.getElementById("new-verification");
    if (!form) return;
    form.classList.add("js-provider-fields");
    var select = form.querySelector("select[name=provider]");
    if (select) select.addEventListener("change", function () { sync(form); });
    sync(form);
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
