/* covidbank viewer: search-form auto submit, X-ray window/level, CT slice scroller. No build step. */
(function () {
  "use strict";

  // Search: submit the filter form when a select changes.
  var form = document.getElementById("search-form");
  if (form) {
    form.querySelectorAll("select").forEach(function (el) {
      el.addEventListener("change", function () { form.submit(); });
    });
  }

  // X-ray images: window/level sliders (server renders; 16-bit keeps full range until windowed).
  document.querySelectorAll(".xray").forEach(function (box) {
    var img = box.querySelector("img.main");
    var wc = box.querySelector(".wc"), ww = box.querySelector(".ww");
    var reset = box.querySelector(".wl-reset"), ov = box.querySelector(".overlay");
    var readout = box.querySelector(".wl-readout");
    var src = box.getAttribute("data-src"), info = null, timer = null;

    if (!img) return;  // replaced by a placeholder already (see cbBroken in base.html)

    function update() {
      var p = [];
      if (info && (wc.value != info.window_center || ww.value != info.window_width)) {
        p.push("wc=" + encodeURIComponent(wc.value), "ww=" + encodeURIComponent(ww.value));
      }
      if (ov && ov.checked) p.push("overlay=true");
      img.src = src + (p.length ? "?" + p.join("&") : "");
      if (readout) readout.textContent = "L " + Math.round(wc.value) + " / W " + Math.round(ww.value) + (info ? " (" + info.bits + "-bit)" : "");
    }
    function later() { clearTimeout(timer); timer = setTimeout(update, 120); }

    fetch(box.getAttribute("data-info")).then(function (r) { return r.ok ? r.json() : null; }).then(function (j) {
      if (!j) return;
      info = j;
      var range = Math.max(1, j.max - j.min);
      wc.min = j.min; wc.max = j.max; wc.step = range / 500; wc.value = j.window_center;
      ww.min = range / 500; ww.max = range * 2; ww.step = range / 500; ww.value = j.window_width;
      if (readout) readout.textContent = "L " + Math.round(j.window_center) + " / W " + Math.round(j.window_width) + " (" + j.bits + "-bit)";
    });
    wc.addEventListener("input", later);
    ww.addEventListener("input", later);
    if (ov) ov.addEventListener("change", update);
    reset.addEventListener("click", function () {
      if (!info) return;
      wc.value = info.window_center; ww.value = info.window_width; update();
    });
  });

  // CT viewer: axial slice scroller with keyboard, wheel, presets and overlay.
  var ct = document.getElementById("ct");
  if (ct) {
    var id = ct.getAttribute("data-id");
    var img = document.getElementById("ct-slice");
    var range = document.getElementById("ct-range");
    var zlabel = document.getElementById("ct-z");
    var maskBoxes = Array.prototype.slice.call(document.querySelectorAll(".ct-mask"));
    var infoBox = document.getElementById("ct-info");
    var state = { z: 0, n: 1, window: "lung" };
    var cache = {};

    function url(z) {
      var on = maskBoxes.filter(function (b) { return b.checked; });
      var u = "/api/slice/" + id + "?z=" + z + "&window=" + state.window + "&overlay=" + (on.length ? "true" : "false");
      on.forEach(function (b) { u += "&mask=" + encodeURIComponent(b.value); });
      return u;
    }
    function preload(z) {
      if (z < 0 || z >= state.n) return;
      var u = url(z);
      if (!cache[u]) { cache[u] = new Image(); cache[u].src = u; }
    }
    function show(z) {
      state.z = Math.max(0, Math.min(state.n - 1, z));
      img.src = url(state.z);
      range.value = state.z;
      var what = state.plane && state.plane !== "volume" && state.plane !== "axial" ? state.plane + " slice" : "slice " + (state.z + 1) + " / " + state.n;
      zlabel.textContent = what + (state.volume ? " · " + state.window : " · mask only");
      ct.setAttribute("data-z", state.z);
      preload(state.z + 1); preload(state.z - 1);
    }
    function setWindow(name) {
      state.window = name;
      document.querySelectorAll(".preset").forEach(function (b) { b.classList.toggle("on", b.getAttribute("data-window") === name); });
      show(state.z);
    }
    fetch("/api/volume/" + id).then(function (r) { return r.json(); }).then(function (v) {
      if (!v.slices) { infoBox.textContent = v.detail || "volume not available"; return; }
      state.n = v.slices;
      state.plane = v.plane;
      if (v.plane === "coronal" || v.plane === "sagittal") img.alt = v.plane + " slice";
      state.volume = v.volume;
      range.max = v.slices - 1;
      var start = v.mask_slices ? Math.round((v.mask_slices[0] + v.mask_slices[1]) / 2) : Math.floor(v.slices / 2);
      var lines = [];
      if (v.shape) lines.push("shape " + v.shape.join(" × "));
      if (v.spacing) lines.push("voxel " + v.spacing.join(" × ") + " mm");
      if (v.volume) lines.push("HU " + Math.round(v.min) + " … " + Math.round(v.max));
      (v.masks || []).forEach(function (m) {
        if (!m.matches) lines.push(m.kind + " mask shape " + m.shape.join(" × ") + " does not match the volume: not drawn");
        else lines.push(m.kind + " mask labels " + m.labels.join(", ") + (m.slices ? " on slices " + (m.slices[0] + 1) + "–" + (m.slices[1] + 1) : ""));
      });
      infoBox.textContent = lines.join(" · ");
      setWindow("lung");
      show(start);
    });
    range.addEventListener("input", function () { show(parseInt(range.value, 10)); });
    maskBoxes.forEach(function (b) { b.addEventListener("change", function () { show(state.z); }); });
    document.querySelectorAll(".preset").forEach(function (b) {
      b.addEventListener("click", function () { setWindow(b.getAttribute("data-window")); });
    });
    ct.addEventListener("wheel", function (e) {
      e.preventDefault();
      show(state.z + (e.deltaY > 0 ? -1 : 1));
    }, { passive: false });
    document.addEventListener("keydown", function (e) {
      if (e.target && (e.target.tagName === "INPUT" && e.target.type !== "range" && e.target.type !== "checkbox")) return;
      var step = { ArrowUp: 1, ArrowRight: 1, ArrowDown: -1, ArrowLeft: -1, PageUp: 10, PageDown: -10 }[e.key];
      if (step !== undefined) { e.preventDefault(); show(state.z + step); }
      else if (e.key === "Home") { e.preventDefault(); show(0); }
      else if (e.key === "End") { e.preventDefault(); show(state.n - 1); }
      else if (e.key === "l") setWindow("lung");
      else if (e.key === "m") setWindow("mediastinum");
    });
    ct.focus();
  }
})();
