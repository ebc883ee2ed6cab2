/* /docs: starts the vendored Swagger UI on this service's OpenAPI document.
 * Kept in a static file because the Content-Security-Policy allows no inline script;
 * the page passes the document's URL in a data- attribute. */
(function () {
  "use strict";
  var node = document.getElementById("swagger-ui");
  window.ui = SwaggerUIBundle({
    url: node.getAttribute("data-openapi-url"),
    dom_id: "#swagger-ui",
    presets: [SwaggerUIBundle.presets.apis],
    layout: "BaseLayout",
    deepLinking: true,
    validatorUrl: null,              // no badge fetched from validator.swagger.io
    persistAuthorization: false
  });
})();
