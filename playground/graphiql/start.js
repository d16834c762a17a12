// Starts GraphiQL against this server. A file of its own, not inline, so the page's CSP allows scripts
// from the server only.
(function () {
  var root = document.getElementById('graphiql');
  if (!window.React || !window.ReactDOM || !window.GraphiQL) {
    root.innerHTML = '<p class="load-error">GraphiQL failed to load its assets from /graphiql/assets/.</p>';
    return;
  }

  // Queries and mutations: HTTP POST to this server's /graphql.
  var url = location.origin + '/graphql';
  // Subscriptions: graphql-ws (the graphql-transport-ws protocol) at /graphql/ws on the same host,
  // wss: when the page came over https:.
  var subscriptionUrl = (location.protocol === 'https:' ? 'wss:' : 'ws:') + '//' + location.host + '/graphql/ws';
  // One shared, lazy client: it connects only while a subscription runs. Without the graphql-ws asset,
  // createFetcher falls back to the copy of graphql-ws bundled in graphiql.min.js (subscriptionUrl).
  var wsClient = window.graphqlWs
    ? window.graphqlWs.createClient({ url: subscriptionUrl, lazy: true, retryAttempts: 3 })
    : undefined;

  var fetcher = GraphiQL.createFetcher({ url: url, subscriptionUrl: subscriptionUrl, wsClient: wsClient });

  var defaultQuery = [
    '# photoshare: press Ctrl/Cmd-Enter or ▶ to run.',
    '# Subscriptions run over /graphql/ws.',
    '',
    'query LatestPhotos {',
    '  photos(first: 10) {',
    '    edges {',
    '      node {',
    '        id',
    '        name',
    '        uploadedAt',
    '        uploaderIp',
    '        url',
    '      }',
    '    }',
    '    pageInfo {',
    '      hasNextPage',
    '      endCursor',
    '    }',
    '  }',
    '}',
    ''
  ].join('\n');

  ReactDOM.createRoot(root).render(
    React.createElement(GraphiQL, {
      fetcher: fetcher,
      defaultQuery: defaultQuery,
      defaultEditorToolsVisibility: true,
      shouldPersistHeaders: false
    })
  );
})();
