// Swagger UI over pmserve's own /openapi.json; everything is served by pmserve itself.
window.ui = SwaggerUIBundle({ url: "/openapi.json", dom_id: "#swagger-ui", deepLinking: true });
