// MathJax 3, served by the site itself (assets/mathjax, from npm). It typesets only what
// pymdownx.arithmatex marks on markdown pages, and what course/site.py marks the same way on the
// lesson (notebook) pages: <span class="arithmatex">\(...\)</span>, <div class="arithmatex">\[...\]</div>.
// No `document$` subscription: the site does not use instant navigation, so MathJax's own startup
// typesets each page once, when it loads.
window.MathJax = {
  tex: {
    inlineMath: [["\\(", "\\)"]],
    displayMath: [["\\[", "\\]"]],
    processEscapes: true,
    processEnvironments: true,
  },
  options: {
    ignoreHtmlClass: ".*|",
    processHtmlClass: "arithmatex",
  },
  chtml: {
    scale: 1.0,
  },
};
