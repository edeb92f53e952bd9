// Renders /openapi.yaml with Swagger UI, served from this binary: no CDN.
"use strict";
// Swagger UI's deep links rewrite the address's fragment as it starts, so
// the problem type the address names is read first.
var wanted = decodeURIComponent(location.hash.slice(1));
window.addEventListener("load", function () {
  window.ui = SwaggerUIBundle({
    url: "/openapi.yaml",
    dom_id: "#swagger-ui",
    deepLinking: true,
    // The public validator badge would call out to another host.
    validatorUrl: null,
    presets: [SwaggerUIBundle.presets.apis],
    layout: "BaseLayout",
    defaultModelsExpandDepth: 0,
    onComplete: function () {
      // Swagger UI renders after the page has loaded, pushing the problem
      // types down: scroll to the one the address names once it is done.
      if (wanted.indexOf("problem-") === 0) {
        var el = document.getElementById(wanted);
        if (el) {
          history.replaceState(null, "", "#" + wanted);
          el.scrollIntoView();
          el.classList.add("target");
        }
      }
      document.body.dataset.ready = "true";
    },
  });
});
