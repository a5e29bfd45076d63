/* Images that fail to load become a placeholder with the server's reason. Defined before the body
   is parsed and used from inline onerror attributes, so an early failure is never missed. */
function cbBroken(img, big) {
  var d = document.createElement("div");
  d.className = big ? "placeholder big" : "placeholder";
  d.setAttribute("role", "img");
  d.textContent = big ? "This image cannot be shown." : "file cannot be shown";
  var target = big ? (img.closest(".xray") || img) : img;
  target.replaceWith(d);
  fetch(img.src).then(function (r) { return r.json(); }).then(function (j) {
    if (j && j.detail) d.textContent = (big ? "This image cannot be shown: " : "") + j.detail;
  }).catch(function () {});
}
/* Without inline handlers (the Content-Security-Policy allows scripts from /static only): an image
   marked data-broken that fails to load is caught here, in the capture phase, even before the body ends. */
document.addEventListener("error", function (e) {
  var t = e.target;
  if (t && t.tagName === "IMG" && t.hasAttribute("data-broken")) cbBroken(t, t.getAttribute("data-broken") === "big");
}, true);
