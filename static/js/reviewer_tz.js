// Staff pages: tell the portal the reviewer's time zone once (the `tz` cookie), so times
// are shown in it from the next page on (portal.middleware.ReviewerTimeZoneMiddleware).
(function () {
  var zone;
  try { zone = Intl.DateTimeFormat().resolvedOptions().timeZone; } catch (e) { return; }
  if (!zone) return;
  var current = document.cookie.split("; ").filter(function (c) { return c.indexOf("tz=") === 0; })[0];
  var wanted = "tz=" + encodeURIComponent(zone);
  if (current === wanted) return;
  document.cookie = wanted + "; path=/; max-age=31536000; SameSite=Lax";
})();
