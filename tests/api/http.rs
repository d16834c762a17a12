//! The HTTP surface besides GraphQL: health, GraphiQL served offline, the root redirect.

use crate::both_modes;
use crate::helpers::TestApp;

both_modes!(health_graphiql_and_root_are_served);

async fn health_graphiql_and_root_are_served(app: TestApp) {
    let get = |path: &str| app.client.get(format!("{}{path}", app.address)).send();
    let health = get("/healthz").await.unwrap();
    assert_eq!(health.status(), 200);

    let graphiql = get("/graphiql").await.unwrap();
    assert_eq!(graphiql.status(), 200);
    let page = graphiql.text().await.unwrap();
    assert!(page.contains("/graphiql/assets/graphiql.min.js"), "GraphiQL loads its own assets");
    assert!(!page.contains("https://"), "no CDN: the page works offline");
    for asset in ["graphiql.min.js", "graphiql.min.css", "react.production.min.js", "react-dom.production.min.js"] {
        let response = get(&format!("/graphiql/assets/{asset}")).await.unwrap();
        assert_eq!(response.status(), 200, "{asset}");
        assert!(response.bytes().await.unwrap().len() > 1000, "{asset} has content");
    }
    assert_eq!(get("/graphiql/assets/missing.js").await.unwrap().status(), 404);

    let root = get("/").await.unwrap();
    assert!(root.status().is_redirection());
    assert_eq!(root.headers()["location"], "/graphiql");
}
