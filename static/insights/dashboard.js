// Draws the dashboard's charts from the JSON the page embeds (json_script): no inline script,
// no network access, Chart.js served from our own static files.
(function () {
  "use strict";
  var node = document.getElementById("insights-data");
  if (!node || typeof Chart === "undefined") { return; }
  var data = JSON.parse(node.textContent);
  // Print renders the canvases as they are: no animation, so a print never catches a half-drawn chart.
  Chart.defaults.animation = false;
  Chart.defaults.maintainAspectRatio = false;

  new Chart(document.getElementById("chart-weekly"), {
    data: {
      labels: data.weeks,
      datasets: [
        { type: "bar", label: "Responses", data: data.responses, yAxisID: "y", backgroundColor: "#9ecae1" },
        { type: "line", label: "NPS", data: data.nps, yAxisID: "nps", borderColor: "#08519c", spanGaps: true }
      ]
    },
    options: {
      scales: {
        y: { beginAtZero: true, position: "left", title: { display: true, text: "responses" } },
        nps: { min: -100, max: 100, position: "right", grid: { drawOnChartArea: false },
               title: { display: true, text: "NPS" } }
      }
    }
  });

  var colours = { positive: "#31a354", neutral: "#bdbdbd", mixed: "#fdae6b", negative: "#de2d26" };
  new Chart(document.getElementById("chart-themes"), {
    type: "bar",
    data: {
      labels: data.themes,
      datasets: Object.keys(colours).map(function (s) {
        return { label: s, data: data.theme_counts[s], backgroundColor: colours[s] };
      })
    },
    options: { indexAxis: "y", scales: { x: { stacked: true }, y: { stacked: true } } }
  });

  new Chart(document.getElementById("chart-topbox"), {
    type: "bar",
    data: { labels: data.topbox_items, datasets: [{ label: "% Always", data: data.topbox, backgroundColor: "#756bb1" }] },
    options: { scales: { y: { min: 0, max: 100 } } }
  });
})();
