"use strict";
// The report's only script: the print button (inline handlers are not allowed by the page's CSP).
document.addEventListener("DOMContentLoaded", () => {
  const b = document.getElementById("print");
  if (b) b.addEventListener("click", () => window.print());
});
