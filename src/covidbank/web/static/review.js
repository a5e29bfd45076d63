/* Review of burned-in text: draw boxes on the X-ray (image pixels, through the SVG's viewBox) and post a decision. */
(function () {
  var wrap = document.getElementById("review");
  if (!wrap) return;
  var svg = document.getElementById("review-svg");
  var status = document.getElementById("review-status");
  var stem = wrap.dataset.stem;
  var writable = wrap.dataset.writable === "yes";
  var drawn = [];
  var start = null, live = null;
  var NS = "http://www.w3.org/2000/svg";

  function toImage(ev) {
    var pt = svg.createSVGPoint();
    pt.x = ev.clientX; pt.y = ev.clientY;
    var p = pt.matrixTransform(svg.getScreenCTM().inverse());
    return { x: Math.max(0, Math.min(+wrap.dataset.width, p.x)), y: Math.max(0, Math.min(+wrap.dataset.height, p.y)) };
  }
  function rect(b) {
    var r = document.createElementNS(NS, "rect");
    r.setAttribute("class", "box drawn");
    r.setAttribute("x", b[0]); r.setAttribute("y", b[1]); r.setAttribute("width", b[2]); r.setAttribute("height", b[3]);
    svg.appendChild(r);
    return r;
  }
  function box(a, b) {
    var x = Math.round(Math.min(a.x, b.x)), y = Math.round(Math.min(a.y, b.y));
    return [x, y, Math.max(1, Math.round(Math.abs(a.x - b.x))), Math.max(1, Math.round(Math.abs(a.y - b.y)))];
  }
  if (writable) {
    svg.addEventListener("mousedown", function (ev) { start = toImage(ev); live = rect([start.x, start.y, 1, 1]); ev.preventDefault(); });
    svg.addEventListener("mousemove", function (ev) {
      if (!start) return;
      var b = box(start, toImage(ev));
      live.setAttribute("x", b[0]); live.setAttribute("y", b[1]); live.setAttribute("width", b[2]); live.setAttribute("height", b[3]);
    });
    svg.addEventListener("mouseup", function (ev) {
      if (!start) return;
      var b = box(start, toImage(ev));
      start = null;
      if (b[2] < 3 || b[3] < 3) { live.remove(); return; }
      drawn.push(b);
      wrap.dataset.drawn = String(drawn.length);
    });
  }
  function detected() {
    return Array.prototype.map.call(svg.querySelectorAll("rect.box.phi, rect.box.unknown"), function (r) {
      return ["x", "y", "width", "height"].map(function (k) { return Math.round(+r.getAttribute(k)); });
    });
  }
  function post(decision) {
    var boxes = decision === "redact" ? detected().concat(drawn) : [];
    status.textContent = "saving…";
    fetch("/review/" + encodeURIComponent(stem) + "/decision", {
      method: "POST",
      headers: { "Content-Type": "application/json", "X-Covidbank-Review": "1" },
      body: JSON.stringify({ decision: decision, boxes: boxes })
    }).then(function (r) { return r.json().then(function (j) { return [r.ok, j]; }); })
      .then(function (res) {
        status.textContent = res[0] ? "Decision stored: " + res[1].decision + " (applied by the next covidbank ingest run)"
                                    : "Not stored: " + (res[1].detail || "error");
        status.dataset.decision = res[0] ? res[1].decision : "";
      })
      .catch(function () { status.textContent = "Not stored: the viewer did not answer"; });
  }
  document.querySelectorAll(".review-actions button[data-decision]").forEach(function (b) {
    b.addEventListener("click", function () { post(b.dataset.decision); });
  });
  var clear = document.getElementById("btn-clear");
  if (clear) clear.addEventListener("click", function () {
    drawn = []; svg.querySelectorAll("rect.drawn").forEach(function (r) { r.remove(); }); wrap.dataset.drawn = "0";
  });
})();
