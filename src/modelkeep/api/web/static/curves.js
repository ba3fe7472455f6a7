// The run page's metric curves: one small uPlot chart per metric, value against step.
(function () {
  "use strict";
  var box = document.getElementById("curves");
  if (!box || typeof uPlot === "undefined") { return; }
  fetch(box.dataset.src, { credentials: "same-origin" }).then(function (r) { return r.json(); }).then(function (doc) {
    Object.keys(doc).sort().slice(0, 24).forEach(function (key) {
      var holder = document.createElement("div");
      box.appendChild(holder);
      new uPlot({ title: key, width: 420, height: 220, scales: { x: { time: false } },
                  series: [{ label: "step" }, { label: key, stroke: "#2456c8" }] },
                [doc[key].steps, doc[key].values], holder);
    });
    box.dataset.ready = "1";
  });
})();
