// GraphiQL on this service's own origin: queries over HTTP, subscriptions over
// graphql-transport-ws; the headers tab (X-Storefront-Key, Authorization) goes with both
// (on the WebSocket as connection_init parameters).
(function () {
  "use strict";
  var http = new URL("/graphql", window.location.href);
  var ws = new URL("/graphql", window.location.href);
  ws.protocol = http.protocol === "https:" ? "wss:" : "ws:";
  var fetcher = GraphiQL.createFetcher({ url: http.href, subscriptionUrl: ws.href });
  var root = ReactDOM.createRoot(document.getElementById("graphiql"));
  root.render(
    React.createElement(GraphiQL, {
      fetcher: fetcher,
      shouldPersistHeaders: true,
      isHeadersEditorEnabled: true,
      defaultEditorToolsVisibility: "headers",
      defaultHeaders: '{\n  "X-Storefront-Key": ""\n}',
      defaultQuery: "{\n  tenant {\n    name\n    slug\n  }\n}\n",
    })
  );
})();
