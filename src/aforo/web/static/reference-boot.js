// The REST reference: Swagger UI reading this service's /openapi.json. No validator badge
// (it would call a third-party host), no other network use.
(function () {
  "use strict";
  window.ui = SwaggerUIBundle({
    url: new URL("/openapi.json", window.location.href).href,
    dom_id: "#swagger-ui",
    deepLinking: true,
    validatorUrl: null,
    presets: [SwaggerUIBundle.presets.apis],
    layout: "BaseLayout",
  });
})();
