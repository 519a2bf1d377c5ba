// Runs before anything else in report.html (plots/report.py inlines it first),
// so that an error anywhere, and what plotly only logs, is counted.
window.__reportErrors = [];
window.addEventListener('error', function (e) { window.__reportErrors.push(String(e.message || e)); });
// plotly reports what it cannot draw (no WebGL) on the console, not by throwing.
document.addEventListener('webglcontextlost', function () {
  window.__reportErrors.push('a WebGL context was lost (too many on the page?)');
}, true);
(function () {
  var ce = console.error;
  console.error = function () {
    window.__reportErrors.push(Array.prototype.join.call(arguments, ' '));
    return ce.apply(console, arguments);
  };
})();
