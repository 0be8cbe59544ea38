//! What people do in the UI, end to end.

use serde_json::json;

use crate::browser::Browser;
use crate::demo::{COMMIT_PAGES, Demo};

/// Signs in with `token` using the keyboard only (type, then Enter).
async fn sign_in(browser: &Browser, demo: &Demo, token: &str) {
    browser.open(&format!("{}/", demo.url)).await;
    browser.wait_for("#token").await;
    browser.fill("#token", &format!("{token}\u{E007}")).await;
    browser.wait_for("#nav:not([hidden])").await;
    browser.wait_for("tr[data-target]").await;
}

/// Waits for the live deployment view to show a terminal status and returns it.
async fn final_status(browser: &Browser) -> String {
    browser
        .wait_until(
            "the deployment to end",
            "const s = document.querySelector('#deployment-status'); \
             return s !== null && ['succeeded','failed','unchanged'].includes(s.dataset.status)",
        )
        .await;
    browser
        .js("return document.querySelector('#deployment-status').dataset.status")
        .await
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

/// The number of elements matching `css`.
async fn count(browser: &Browser, css: &str) -> u64 {
    browser
        .js(&format!("return document.querySelectorAll({}).length", json!(css)))
        .await
        .as_u64()
        .unwrap_or_default()
}

/// Every input and select on the page has a label.
async fn every_control_is_labelled(browser: &Browser) {
    let unlabelled = browser
        .js("return [...document.querySelectorAll('input, select')].filter(e => e.offsetParent !== null && e.labels.length === 0).map(e => e.id)")
        .await;
    assert_eq!(unlabelled, json!([]), "controls without a label");
}

async fn deploy_from_form(browser: &Browser, demo: &Demo, target: &str, tag: &str, timeout: Option<&str>) {
    browser.open(&format!("{}/#/deploy/{target}", demo.url)).await;
    browser.fill("#tag", tag).await;
    if let Some(t) = timeout {
        browser.fill("#timeout", t).await;
    }
    every_control_is_labelled(browser).await;
    browser.click("#preview-button").await;
    browser.wait_for("#confirm-deploy").await;
    let diff = browser.text("#preview-diff").await;
    assert!(
        diff.contains('+') && diff.contains(tag),
        "the diff shows the new tag:\n{diff}"
    );
    let message = browser.text("#preview-commit").await;
    assert!(message.contains(tag), "the commit message names the tag:\n{message}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_engineer_deploys_watches_a_failure_rolls_back_and_the_pin_holds_off_ci() {
    let demo = Demo::start().await;
    let browser = Browser::start().await;

    browser.open(&format!("{}/", demo.url)).await;
    browser.wait_for("#token").await;
    every_control_is_labelled(&browser).await;
    browser.screenshots("signin").await;
    sign_in(&browser, &demo, &demo.alice).await;
    assert!(
        browser.visible("#nav-triggers a").await,
        "a token that reads everything sees the triggers"
    );
    assert_eq!(browser.text("#whoami").await, "Signed in as alice");
    let overview = browser.text("#view").await;
    for expected in [
        "Region us-west-2",
        "Region dc1",
        "staging-1",
        "web",
        "1.4.2",
        "reachable",
        "not pinned",
    ] {
        assert!(
            overview.contains(expected),
            "the overview shows `{expected}`:\n{overview}"
        );
    }
    browser.fill("#filter", "worker").await;
    let shown = browser
        .js("return [...document.querySelectorAll('tr[data-search]')].filter(r => !r.hidden).length")
        .await;
    assert_eq!(
        shown,
        json!(4),
        "the filter keeps the worker of each of the four clusters"
    );
    browser.fill("#filter", "").await;
    // Live from the cluster: web runs 2 of 2 replicas, ready and updated.
    browser
        .wait_for("tr[data-target='dc1/dev-1/web'][data-live='ready']")
        .await;
    let web = browser.text("tr[data-target='dc1/dev-1/web'] .live-cell").await;
    assert!(
        web.contains("ready") && web.contains("2/2 ready") && web.contains("2/2 updated"),
        "the live replica counts: {web}"
    );
    browser.screenshots("overview").await;

    // Deploy from the form: preview, confirm, follow it live to `succeeded`.
    deploy_from_form(&browser, &demo, "dc1/dev-1/web", "1.5.0", None).await;
    browser.screenshots("deploy-preview").await;
    browser.click("#confirm-deploy").await;
    browser.wait_for("#deployment-status").await;
    assert_eq!(final_status(&browser).await, "succeeded");
    let page = browser.text("#deployment").await;
    assert!(page.contains("1.4.2 → 1.5.0") && page.contains("alice (ui)"), "{page}");
    assert!(
        browser.text("#replicas").await.contains("ready"),
        "the replica counts are shown"
    );
    browser.screenshots("deployment-succeeded").await;
    // The configuration-repository commit, shortened, links to its page (`[git] commit_url`).
    let commit = browser
        .js("const a = document.querySelector('#commit a.commit-link'); return a && \
             {href: a.getAttribute('href'), text: a.textContent, sha: a.title, label: a.getAttribute('aria-label'), target: a.getAttribute('target')}")
        .await;
    let sha = commit["sha"].as_str().unwrap_or_default().to_owned();
    assert_eq!(sha.len(), 40, "the full commit id is the link's title: {commit}");
    assert_eq!(commit["href"], json!(COMMIT_PAGES.replace("{sha}", &sha)), "{commit}");
    assert_eq!(commit["text"], json!(sha[..12]), "{commit}");
    assert!(
        commit["label"].as_str().is_some_and(|l| l.contains(&sha[..12])),
        "the link's name contains its text: {commit}"
    );
    assert_eq!(commit["target"], json!(null), "the link opens like any other: {commit}");

    // The same app across environments, with a one-click promote of the new tag.
    browser.open(&format!("{}/#/app/dc1/dev-1/web", demo.url)).await;
    browser.wait_for("a.promote").await;
    let envs = browser.text("#view .cards").await;
    assert!(
        envs.contains("us-west-2/staging-1") && envs.contains("Promote 1.5.0"),
        "the other environments: {envs}"
    );
    browser.screenshots("app").await;
    // The history links the same commit, and the link takes the keyboard focus.
    let linked = browser
        .js(&format!(
            "const a = document.querySelector(\"#view table a.commit-link[title='{sha}']\"); if (!a) return null; \
             a.focus(); return {{href: a.getAttribute('href'), focused: document.activeElement === a, label: a.getAttribute('aria-label')}}"
        ))
        .await;
    assert_eq!(
        (linked["href"].clone(), linked["focused"].clone()),
        (json!(COMMIT_PAGES.replace("{sha}", &sha)), json!(true)),
        "the history links the commit: {linked}"
    );
    assert!(
        linked["label"].as_str().is_some_and(|l| l.starts_with("Commit ")),
        "{linked}"
    );
    browser.click("a.promote[href*='us-west-2/staging-1']").await;
    browser.wait_for("#tag").await;
    assert_eq!(
        browser.js("return document.querySelector('#tag').value").await,
        json!("1.5.0")
    );
    browser.click("#preview-button").await;
    browser.click("#confirm-deploy").await;
    browser.wait_for("#deployment-status").await;
    assert_eq!(final_status(&browser).await, "succeeded");
    assert!(browser.text("#deployment").await.contains("us-west-2/staging-1/web"));

    // A release whose pods never become ready fails, with the reason.
    deploy_from_form(&browser, &demo, "dc1/dev-1/worker", "1.0.0-never-ready", Some("5s")).await;
    browser.click("#confirm-deploy").await;
    browser.wait_for("#deployment-status").await;
    assert_eq!(final_status(&browser).await, "failed");
    let reason = browser.text("#failure-reason").await;
    assert!(
        reason.contains("timed_out") || reason.contains("progress_deadline"),
        "the failure says why: {reason}"
    );
    browser.screenshots("deployment-failed").await;
    browser.open(&format!("{}/#/", demo.url)).await;
    browser
        .wait_for("tr[data-target='dc1/dev-1/worker'][data-last='failed']")
        .await;
    let worker = browser.text("tr[data-target='dc1/dev-1/worker']").await;
    assert!(
        worker.contains("failed") && worker.contains("0.9.1 → 1.0.0-never-ready") && worker.contains("by alice"),
        "the last deployment on the overview: {worker}"
    );
    let live = browser
        .js("return document.querySelector(\"tr[data-target='dc1/dev-1/worker']\").dataset.live")
        .await;
    assert_ne!(
        live,
        json!("ready"),
        "a pod that never becomes ready is not `ready`: {worker}"
    );
    browser
        .js("const s = document.querySelector('#show'); s.value = 'failed'; s.dispatchEvent(new Event('change')); return true")
        .await;
    let shown = browser
        .js("return [...document.querySelectorAll('tr[data-search]')].filter(r => !r.hidden).map(r => r.dataset.target)")
        .await;
    assert_eq!(shown, json!(["dc1/dev-1/worker"]), "only the failed one is left");

    // Roll the web deployment back from its history, with confirmation.
    browser.open(&format!("{}/#/app/dc1/dev-1/web", demo.url)).await;
    browser.wait_for("button.rollback").await;
    let history = browser.text("#view table").await;
    assert!(
        history.contains("succeeded") && history.contains("1.4.2 → 1.5.0"),
        "{history}"
    );
    // With the keyboard: Enter opens the confirmation (focused on its button), Escape closes
    // it, Enter again and Enter on the confirmation rolls back.
    browser.press("button.rollback", "\u{E007}").await;
    browser.wait_for("#confirm-action").await;
    assert!(
        browser.text(".confirm").await.contains("pinned"),
        "the confirmation says the target will be pinned"
    );
    assert_eq!(
        browser.js("return document.activeElement.id").await,
        json!("confirm-action"),
        "the confirmation takes the focus"
    );
    browser.press("#confirm-action", "\u{E00C}").await;
    browser
        .wait_until(
            "Escape to cancel",
            "return document.querySelector('#confirm-action') === null",
        )
        .await;
    browser.press("button.rollback", "\u{E007}").await;
    browser.press("#confirm-action", "\u{E007}").await;
    browser.wait_for("#deployment-status").await;
    assert_eq!(final_status(&browser).await, "succeeded");
    assert!(
        browser.text("#deployment").await.contains("1.5.0 → 1.4.2"),
        "the rollback restores 1.4.2"
    );

    // The pin holds off automatic triggers: a CI deploy request and a CI release are refused.
    let (status, body) = demo
        .post(
            &demo.alice,
            "/api/v1/deployments",
            Demo::ci_request("dc1", "dev-1", "web", "1.6.0"),
        )
        .await;
    assert_eq!(
        (status, body["error"]["code"].clone()),
        (409, json!("target_pinned")),
        "{body}"
    );
    let release = json!({"image": "ghcr.io/example/web", "tag": "1.6.0", "branch": "dev", "ci": "github-actions",
        "commit": "4f2a9c1", "build_url": "https://ci.example/builds/43", "files": ["web"]});
    let (status, body) = demo.post(&demo.alice, "/api/v1/releases", release).await;
    assert_eq!((status, body["outcome"].clone()), (200, json!("rejected")), "{body}");
    browser.open(&format!("{}/#/app/dc1/dev-1/web", demo.url)).await;
    browser.wait_for("#pin-state .pin").await;
    assert!(browser.text("#pin-state").await.contains("pinned by alice"));
    browser.screenshots("app-pinned").await;
    browser.open(&format!("{}/#/", demo.url)).await;
    browser.wait_for("tr[data-target='dc1/dev-1/web'] .pin").await;
    let row = browser.text("tr[data-target='dc1/dev-1/web']").await;
    assert!(
        row.contains("succeeded") && row.contains("alice") && row.contains("pinned by alice"),
        "{row}"
    );
    browser
        .js("const s = document.querySelector('#show'); s.value = 'pinned'; s.dispatchEvent(new Event('change')); return true")
        .await;
    assert_eq!(
        browser.js("return [...document.querySelectorAll('tr[data-search]')].filter(r => !r.hidden).map(r => r.dataset.target)").await,
        json!(["dc1/dev-1/web"]),
        "the pinned filter"
    );
    browser
        .js("const s = document.querySelector('#show'); s.value = 'all'; s.dispatchEvent(new Event('change')); return true")
        .await;
    browser.screenshots("overview-activity").await;

    browser.click("#nav-triggers a").await;
    browser
        .wait_until(
            "the triggers page",
            "const h = document.querySelector('#page-title'); return h !== null && h.textContent === 'Triggers' && document.querySelector('#view table, #view p') !== null",
        )
        .await;
    let triggers = browser.text("#view").await;
    assert!(
        triggers.contains("ignored") && triggers.contains("pinned by `alice`"),
        "the held-off release is listed with why: {triggers}"
    );
    browser.screenshots("triggers").await;

    // Dead events (operators with `admin:*`).
    browser.click("#nav-events a").await;
    browser
        .wait_until(
            "the dead events page",
            "const h = document.querySelector('#page-title'); return h !== null && h.textContent === 'Dead events' && document.querySelector('#view table, #view p') !== null",
        )
        .await;
    let events = browser.text("#view").await;
    assert!(
        events.contains("No dead events"),
        "the demo has no sink, so nothing is dead: {events}"
    );
    browser.screenshots("dead-events").await;

    // Unpin, with confirmation; then CI may deploy again.
    browser.open(&format!("{}/#/app/dc1/dev-1/web", demo.url)).await;
    browser.click("#unpin").await;
    browser.click("#confirm-action").await;
    browser
        .wait_until(
            "the pin to be lifted",
            "const p = document.querySelector('#pin-state'); return p !== null && p.textContent === 'not pinned'",
        )
        .await;
    let (status, body) = demo
        .post(
            &demo.alice,
            "/api/v1/deployments",
            Demo::ci_request("dc1", "dev-1", "web", "1.6.0"),
        )
        .await;
    assert_eq!(status, 202, "{body}");

    // Pin by hand, with a reason and a confirmation.
    browser.click("#pin").await;
    browser.fill("#pin-reason", "freeze for the sale").await;
    every_control_is_labelled(&browser).await;
    browser.click("#confirm-action").await;
    browser
        .wait_until(
            "the pin to be shown",
            "const p = document.querySelector('#pin-state'); return p !== null && p.textContent.includes('freeze for the sale')",
        )
        .await;
    assert!(browser.text("#pin-state").await.contains("pinned by alice"));
    assert!(browser.visible("#unpin").await, "a pinned target offers unpin");
    // The CI deployment made after the unpin is in the history with its build link.
    browser
        .wait_for("#view table a[href='https://ci.example/builds/42']")
        .await;
    let ci_row = browser
        .text("#view table tr[data-id]:has(a[href='https://ci.example/builds/42'])")
        .await;
    assert!(
        ci_row.contains("ci") && ci_row.contains("github-actions"),
        "the trigger and CI build of a CI deployment: {ci_row}"
    );
    // The CI build link behaves like the commit link: named, focusable, opened like any link.
    let build = browser
        .js("const a = document.querySelector(\"#view table a[href='https://ci.example/builds/42']\"); a.focus(); \
             return {label: a.getAttribute('aria-label'), target: a.getAttribute('target'), focused: document.activeElement === a}")
        .await;
    assert_eq!(
        build,
        json!({"label": "CI build on github-actions", "target": null, "focused": true}),
        "the CI build link"
    );

    // Sign out: the session cookie no longer works.
    browser.click("#signout").await;
    browser.wait_for("#signin:not([hidden])").await;
    let after = browser.js("return fetch('/api/v1/clusters').then(r => r.status)").await;
    assert_eq!(after, json!(401));
    browser.finish().await;
    drop(demo);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_only_token_sees_no_button_it_may_not_use_and_the_api_refuses_it_anyway() {
    let demo = Demo::start().await;
    // A deployment that could be rolled back, by someone who may.
    let (status, body) = demo
        .post(
            &demo.alice,
            "/api/v1/deployments?wait=true",
            json!({"region": "dc1", "cluster": "dev-1", "file": "web", "tag": "1.5.0"}),
        )
        .await;
    assert_eq!((status, body["status"].clone()), (200, json!("succeeded")), "{body}");
    let browser = Browser::start().await;
    sign_in(&browser, &demo, &demo.viewer).await;
    assert_eq!(browser.text("#whoami").await, "Signed in as viewer");
    assert!(
        browser.text("#view").await.contains("Region dc1"),
        "a reader sees the overview"
    );
    assert!(browser.visible("#nav-triggers a").await, "`read:*` reads the triggers");
    assert!(
        !browser.visible("#nav-events a").await,
        "dead events need `admin:*`: no link"
    );

    // The session cookie carries the token; the page never sees it, but the API knows who it is.
    let cookie = browser.js("return document.cookie").await;
    assert_eq!(cookie, json!(""), "the session cookie is HttpOnly");
    let page = browser.js("return document.documentElement.outerHTML").await;
    assert!(
        !page.as_str().unwrap_or_default().contains(&demo.viewer),
        "the token is not in the page"
    );
    let me = browser.js("return fetch('/api/v1/whoami').then(r => r.json())").await;
    assert_eq!(
        (me["name"].clone(), me["scopes"].clone(), me["everywhere"].clone()),
        (json!("viewer"), json!(["read:*"]), json!(["read"])),
        "whoami through the session answers for the session's token: {me}"
    );

    // No deploy, rollback or pin button on the overview, the application page or the deploy
    // page: the API said up front that this token may only read.
    assert_eq!(
        count(&browser, "tr[data-target]").await,
        16,
        "every application is listed"
    );
    assert_eq!(
        count(&browser, ".deploy-link").await,
        0,
        "no deploy link on the overview"
    );
    browser.screenshots("read-only-overview").await;
    browser.open(&format!("{}/#/app/dc1/dev-1/web", demo.url)).await;
    browser.wait_for("#view table tr[data-id]").await;
    assert!(
        browser.text("#view table").await.contains("1.4.2 → 1.5.0"),
        "the history shows the deployment"
    );
    for button in ["#deploy-link", "button.rollback", "#pin", "#unpin", "a.promote"] {
        assert_eq!(count(&browser, button).await, 0, "no `{button}` for a reader");
    }
    browser.screenshots("read-only-app").await;
    browser.open(&format!("{}/#/deploy/dc1/dev-1/web", demo.url)).await;
    browser.wait_for("#deploy-denied").await;
    assert_eq!(count(&browser, "#tag").await, 0, "no deploy form");

    // The API itself refuses the write whatever the page shows: the UI adds no power.
    let csrf = browser
        .js("return fetch('/ui/session').then(r => r.json()).then(s => s.csrf_token)")
        .await;
    let status = browser
        .js(&format!(
            "return fetch('/api/v1/deployments', {{method: 'POST', headers: {{'Content-Type': 'application/json', 'X-CSRF-Token': {csrf}}}, \
             body: JSON.stringify({{region: 'dc1', cluster: 'dev-1', file: 'web', tag: '1.5.0'}})}}).then(r => r.status)"
        ))
        .await;
    assert_eq!(status, json!(403));
    let no_csrf = browser
        .js("return fetch('/api/v1/pins/dc1/dev-1/web', {method: 'PUT'}).then(r => r.json()).then(b => b.error.code)")
        .await;
    assert_eq!(
        no_csrf,
        json!("invalid_csrf_token"),
        "writes without the CSRF token never reach the API"
    );

    // A token that may change only `development` gets the buttons there and nowhere else.
    browser.click("#signout").await;
    browser.wait_for("#signin:not([hidden])").await;
    sign_in(&browser, &demo, &demo.dev).await;
    let deployable = browser
        .js("return [...document.querySelectorAll('tr[data-target]')].filter(r => r.querySelector('.deploy-link') !== null).map(r => r.dataset.target)")
        .await;
    assert_eq!(
        deployable,
        json!(["dc1/dev-1/api", "dc1/dev-1/shop", "dc1/dev-1/web", "dc1/dev-1/worker"]),
        "deploy links only where the scopes allow"
    );
    browser.open(&format!("{}/#/app/dc1/dev-1/web", demo.url)).await;
    browser.wait_for("button.rollback").await;
    assert!(browser.visible("#deploy-link").await && browser.visible("#pin").await);
    browser
        .open(&format!("{}/#/app/us-west-2/staging-1/web", demo.url))
        .await;
    browser
        .wait_until(
            "the staging page",
            "const h = document.querySelector('#page-title'); return h !== null && h.textContent === 'web on us-west-2/staging-1'",
        )
        .await;
    for button in ["#deploy-link", "#pin", "#unpin"] {
        assert_eq!(count(&browser, button).await, 0, "no `{button}` on staging for `dev`");
    }
    browser.finish().await;
    drop(demo);
}
