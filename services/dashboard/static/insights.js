// The Insights page's charts, drawn by Chart.js from the figures the page also shows as tables
// (#insights-data). Readable without colour alone: the two lines differ by dash and point shape,
// the two bar series by fill (solid, outlined), and every chart has its table below it.
(function () {
  "use strict";
  const source = document.getElementById("insights-data");
  if (!source || typeof Chart === "undefined") return;
  const data = JSON.parse(source.textContent);
  const ink = "#1f2933", accent = "#1d4ed8", muted = "#52606d";
  Chart.defaults.color = ink;
  Chart.defaults.font.family = getComputedStyle(document.body).fontFamily;
  Chart.defaults.animation = false;
  Chart.defaults.maintainAspectRatio = false;
  const percentAxis = { beginAtZero: true, max: 100, ticks: { callback: function (v) { return v + "%"; } } };

  function draw(id, config) {
    const canvas = document.getElementById(id);
    if (!canvas) return;
    if (!config.data.labels.length) { canvas.parentElement.hidden = true; return; }
    new Chart(canvas, config);
  }

  draw("chart-ttfc", {
    type: "line",
    data: {
      labels: data.weeks.labels,
      datasets: [
        { label: "Median (hours)", data: data.weeks.median_h, borderColor: accent, backgroundColor: accent,
          pointStyle: "circle", pointRadius: 4, spanGaps: true },
        { label: "p90 (hours)", data: data.weeks.p90_h, borderColor: muted, backgroundColor: muted,
          borderDash: [6, 4], pointStyle: "triangle", pointRadius: 5, spanGaps: true },
      ],
    },
    options: { scales: { y: { beginAtZero: true, title: { display: true, text: "hours" } } },
               plugins: { legend: { labels: { usePointStyle: true } } } },
  });

  function rates(id, figures, label) {
    draw(id, {
      type: "bar",
      data: { labels: figures.labels,
              datasets: [{ label: label, data: figures.rate, backgroundColor: accent }] },
      options: { indexAxis: "y", scales: { x: percentAxis }, plugins: { legend: { display: false } } },
    });
  }
  rates("chart-templates", data.templates, "Reply rate");
  rates("chart-steps", data.steps, "Reply rate");

  draw("chart-boards", {
    type: "bar",
    data: {
      labels: data.boards.labels,
      datasets: [
        { label: "Inquiries", data: data.boards.inquiries, backgroundColor: accent, borderColor: accent, borderWidth: 2 },
        { label: "Contacted", data: data.boards.contacted, backgroundColor: "#ffffff", borderColor: ink, borderWidth: 2 },
      ],
    },
    options: { scales: { y: { beginAtZero: true, ticks: { precision: 0 } } } },
  });
})();
