// Small helpers that the CSP allows (no inline scripts): copy buttons, and on the customer
// page the brand colour, the poll's ETag, the expiry countdown and the return redirect.
document.addEventListener("click", function (e) {
  var btn = e.target.closest("[data-copy]");
  if (!btn) return;
  var target = document.getElementById(btn.getAttribute("data-copy"));
  if (target && navigator.clipboard) {
    navigator.clipboard.writeText(target.textContent.trim()).then(function () { btn.textContent = "Copied"; });
  }
});

// The merchant's colour (validated hex, and a text colour with enough contrast, both
// chosen server-side) as CSS custom properties: no inline style in the markup.
// A polled card carries them too: a branding save repaints open pages at their next poll.
function applyBrand(source) {
  var body = source || document.body;
  if (!body) return;
  var brand = body.getAttribute("data-brand");
  var ink = body.getAttribute("data-brand-ink");
  if (brand && /^#[0-9a-fA-F]{6}$/.test(brand)) document.documentElement.style.setProperty("--brand", brand);
  if (ink && /^#[0-9a-fA-F]{6}$/.test(ink)) document.documentElement.style.setProperty("--brand-ink", ink);
}

// "This code expires in 4 minutes", in the page's language and the customer's clock.
function relative(seconds, lang) {
  var fmt = window.Intl && Intl.RelativeTimeFormat ? new Intl.RelativeTimeFormat(lang, { numeric: "always" }) : null;
  var minutes = Math.ceil(seconds / 60);
  if (!fmt) return seconds >= 60 ? minutes + " min" : seconds + " s";
  return seconds >= 60 ? fmt.format(minutes, "minute") : fmt.format(seconds, "second");
}
function tick() {
  var lang = document.documentElement.lang || "en";
  document.querySelectorAll("[data-expires]").forEach(function (el) {
    var end = Date.parse(el.getAttribute("data-expires"));
    if (isNaN(end)) return;
    var left = Math.max(0, Math.floor((end - Date.now()) / 1000));
    var text = left > 0
      ? (el.getAttribute("data-expires-text") || "{when}").replace("{when}", relative(left, lang))
      : el.getAttribute("data-expired-text") || "";
    if (el.textContent !== text) el.textContent = text;
  });
}

// Completed with a return URL: back to the merchant after a few seconds, unless the
// customer chooses to stay.
var redirectTimer = null;
function startRedirect() {
  var link = document.querySelector("[data-redirect]");
  if (!link || redirectTimer) return;
  var href = link.getAttribute("href");
  var left = parseInt(link.getAttribute("data-redirect-after") || "5", 10);
  var note = document.querySelector("[data-redirect-note]");
  var stay = document.querySelector("[data-redirect-cancel]");
  function show() {
    if (note) { note.hidden = false; note.textContent = note.getAttribute("data-redirect-note").replace("{n}", String(left)); }
  }
  if (stay) stay.hidden = false;
  show();
  // The ticking note is aria-live="off" (a screen reader would read it every second);
  // the first sentence is said once, through this hidden line inside the live region.
  var announce = document.querySelector("[data-redirect-announce]");
  if (announce && note) announce.textContent = note.textContent;
  redirectTimer = setInterval(function () {
    left -= 1;
    if (left <= 0) { clearInterval(redirectTimer); window.location.assign(href); return; }
    show();
  }, 1000);
}
document.addEventListener("click", function (e) {
  if (!e.target.closest("[data-redirect-cancel]")) return;
  if (redirectTimer) clearInterval(redirectTimer);
  redirectTimer = -1;
  var note = document.querySelector("[data-redirect-note]");
  if (note) note.hidden = true;
  e.target.closest("[data-redirect-cancel]").hidden = true;
});

function ready() { applyBrand(); tick(); startRedirect(); }

if (window.htmx) {
  // A poll answered 304 (nothing changed) keeps the page as it is.
  htmx.config.responseHandling.unshift({ code: "304", swap: false });
  document.body.addEventListener("htmx:configRequest", function (e) {
    var tag = e.detail.elt.getAttribute("data-etag");
    if (tag) e.detail.headers["If-None-Match"] = tag;
  });
  document.body.addEventListener("htmx:afterSwap", function (e) {
    var card = e.detail.target && e.detail.target.querySelector("[data-brand]");
    if (card) applyBrand(card);
    tick(); startRedirect();
  });
}
setInterval(tick, 1000);
if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", ready); else ready();
