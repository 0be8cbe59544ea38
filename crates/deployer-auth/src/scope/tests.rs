//! Every scope decision, allow and deny, for each action and each kind of pattern.

use super::*;

fn scopes(text: &str) -> Scopes {
    text.parse().unwrap_or_else(|e| panic!("{e}"))
}

const PROD_API: ScopeTarget<'static> = ScopeTarget {
    environment: Some("production"),
    region: "us-west-2",
    cluster: "prod-1",
    file: "api",
};

const STAGING_API_GW: ScopeTarget<'static> = ScopeTarget {
    environment: Some("staging"),
    region: "eu-west-1",
    cluster: "stg-1",
    file: "api-gateway",
};

const NO_ENV_WEB: ScopeTarget<'static> = ScopeTarget {
    environment: None,
    region: "dc1",
    cluster: "lab",
    file: "web",
};

/// `(scopes, action, target, expected)` where `expected` is `None` for allow, or the scope the
/// denial names.
type Case = (&'static str, Action, ScopeTarget<'static>, Option<&'static str>);

fn check(cases: &[Case]) {
    for (text, action, target, expected) in cases {
        let got = scopes(text).allows(*action, target);
        let want = match expected {
            None => Decision::Allow,
            Some(needed) => Decision::Deny {
                needed: (*needed).to_owned(),
            },
        };
        assert_eq!(got, want, "scopes `{text}`, {action} on {target}");
    }
}

#[test]
fn exact_patterns_allow_only_their_target_and_their_actions() {
    let exact = "deploy:production/us-west-2/prod-1/api";
    check(&[
        (exact, Action::Deploy, PROD_API, None),
        (exact, Action::Read, PROD_API, None),
        (
            exact,
            Action::Rollback,
            PROD_API,
            Some("rollback:production/us-west-2/prod-1/api"),
        ),
        (
            exact,
            Action::Pin,
            PROD_API,
            Some("pin:production/us-west-2/prod-1/api"),
        ),
        (
            exact,
            Action::Admin,
            PROD_API,
            Some("admin:production/us-west-2/prod-1/api"),
        ),
        (
            exact,
            Action::Deploy,
            STAGING_API_GW,
            Some("deploy:staging/eu-west-1/stg-1/api-gateway"),
        ),
        (exact, Action::Deploy, NO_ENV_WEB, Some("deploy:*/dc1/lab/web")),
        (
            exact,
            Action::Deploy,
            ScopeTarget {
                file: "api2",
                ..PROD_API
            },
            Some("deploy:production/us-west-2/prod-1/api2"),
        ),
        (
            exact,
            Action::Deploy,
            ScopeTarget {
                cluster: "prod-2",
                ..PROD_API
            },
            Some("deploy:production/us-west-2/prod-2/api"),
        ),
        (
            exact,
            Action::Deploy,
            ScopeTarget {
                region: "us-east-1",
                ..PROD_API
            },
            Some("deploy:production/us-east-1/prod-1/api"),
        ),
    ]);
}

#[test]
fn each_action_allows_itself_and_nothing_but_read() {
    for granted in [Action::Read, Action::Deploy, Action::Rollback, Action::Pin] {
        let text = format!("{granted}:*");
        let s = scopes(&text);
        for asked in Action::ALL {
            let allowed = s.allows(asked, &PROD_API).is_allowed();
            let expected = asked == granted || asked == Action::Read;
            assert_eq!(allowed, expected, "`{text}` asked {asked}");
        }
    }
}

#[test]
fn admin_allows_every_action() {
    for target in [PROD_API, STAGING_API_GW, NO_ENV_WEB] {
        for action in Action::ALL {
            assert_eq!(
                scopes("admin:*").allows(action, &target),
                Decision::Allow,
                "{action} on {target}"
            );
        }
    }
    let staging_admin = "admin:staging/*/*/*";
    check(&[
        (staging_admin, Action::Rollback, STAGING_API_GW, None),
        (staging_admin, Action::Pin, STAGING_API_GW, None),
        (
            staging_admin,
            Action::Deploy,
            PROD_API,
            Some("deploy:production/us-west-2/prod-1/api"),
        ),
    ]);
}

#[test]
fn a_lone_star_matches_every_target_including_environment_less_ones() {
    check(&[
        ("read:*", Action::Read, PROD_API, None),
        ("read:*", Action::Read, STAGING_API_GW, None),
        ("read:*", Action::Read, NO_ENV_WEB, None),
        (
            "read:*",
            Action::Deploy,
            PROD_API,
            Some("deploy:production/us-west-2/prod-1/api"),
        ),
        ("read:*", Action::Deploy, NO_ENV_WEB, Some("deploy:*/dc1/lab/web")),
        ("deploy:*/*/*/*", Action::Deploy, NO_ENV_WEB, None),
        ("deploy:*/*/*/*", Action::Deploy, PROD_API, None),
    ]);
}

#[test]
fn prefix_globs_match_what_starts_with_the_prefix() {
    let ci = "deploy:staging/*/*/api-*";
    check(&[
        (ci, Action::Deploy, STAGING_API_GW, None),
        (ci, Action::Read, STAGING_API_GW, None),
        (
            ci,
            Action::Deploy,
            ScopeTarget {
                file: "api",
                ..STAGING_API_GW
            },
            Some("deploy:staging/eu-west-1/stg-1/api"),
        ),
        (
            ci,
            Action::Deploy,
            ScopeTarget {
                file: "web-api-x",
                ..STAGING_API_GW
            },
            Some("deploy:staging/eu-west-1/stg-1/web-api-x"),
        ),
        (
            ci,
            Action::Deploy,
            ScopeTarget {
                environment: Some("production"),
                ..STAGING_API_GW
            },
            Some("deploy:production/eu-west-1/stg-1/api-gateway"),
        ),
        (
            ci,
            Action::Rollback,
            STAGING_API_GW,
            Some("rollback:staging/eu-west-1/stg-1/api-gateway"),
        ),
        (
            ci,
            Action::Pin,
            STAGING_API_GW,
            Some("pin:staging/eu-west-1/stg-1/api-gateway"),
        ),
        (
            ci,
            Action::Admin,
            STAGING_API_GW,
            Some("admin:staging/eu-west-1/stg-1/api-gateway"),
        ),
        // A glob in every part.
        ("pin:prod*/us-*/prod-*/a*", Action::Pin, PROD_API, None),
        (
            "pin:prod*/us-*/prod-*/a*",
            Action::Pin,
            ScopeTarget {
                region: "eu-west-1",
                ..PROD_API
            },
            Some("pin:production/eu-west-1/prod-1/api"),
        ),
        // Suffix and middle globs.
        ("deploy:*/*/*/*-gateway", Action::Deploy, STAGING_API_GW, None),
        (
            "deploy:*/*/stg-*-x/*",
            Action::Deploy,
            STAGING_API_GW,
            Some("deploy:staging/eu-west-1/stg-1/api-gateway"),
        ),
    ]);
}

#[test]
fn several_actions_in_one_scope_share_its_targets() {
    let ops = "rollback,pin:production/us-west-2/*/*";
    check(&[
        (ops, Action::Rollback, PROD_API, None),
        (ops, Action::Pin, PROD_API, None),
        (ops, Action::Read, PROD_API, None),
        (
            ops,
            Action::Deploy,
            PROD_API,
            Some("deploy:production/us-west-2/prod-1/api"),
        ),
        (
            ops,
            Action::Rollback,
            ScopeTarget {
                region: "eu-west-1",
                ..PROD_API
            },
            Some("rollback:production/eu-west-1/prod-1/api"),
        ),
        (
            ops,
            Action::Pin,
            STAGING_API_GW,
            Some("pin:staging/eu-west-1/stg-1/api-gateway"),
        ),
    ]);
}

#[test]
fn environment_less_targets_match_only_a_star_environment() {
    check(&[
        ("deploy:*/dc1/lab/web", Action::Deploy, NO_ENV_WEB, None),
        (
            "deploy:*/dc1/lab/web",
            Action::Pin,
            NO_ENV_WEB,
            Some("pin:*/dc1/lab/web"),
        ),
        (
            "deploy:production/dc1/lab/web",
            Action::Deploy,
            NO_ENV_WEB,
            Some("deploy:*/dc1/lab/web"),
        ),
        (
            "deploy:prod*/dc1/lab/web",
            Action::Deploy,
            NO_ENV_WEB,
            Some("deploy:*/dc1/lab/web"),
        ),
        (
            "deploy:*/dc1/lab/api",
            Action::Deploy,
            NO_ENV_WEB,
            Some("deploy:*/dc1/lab/web"),
        ),
        // `*` as the environment matches targets with an environment too.
        ("deploy:*/us-west-2/prod-1/api", Action::Deploy, PROD_API, None),
    ]);
}

#[test]
fn any_of_several_scopes_may_allow() {
    let ci = "read:* deploy:staging/*/*/* deploy:production/us-west-2/prod-1/api";
    check(&[
        (ci, Action::Deploy, STAGING_API_GW, None),
        (ci, Action::Deploy, PROD_API, None),
        (ci, Action::Read, NO_ENV_WEB, None),
        (
            ci,
            Action::Deploy,
            ScopeTarget {
                file: "web",
                ..PROD_API
            },
            Some("deploy:production/us-west-2/prod-1/web"),
        ),
    ]);
}

#[test]
fn no_scopes_allow_nothing() {
    let none = Scopes::default();
    for action in Action::ALL {
        assert!(!none.allows(action, &PROD_API).is_allowed());
        assert!(!none.allows_everywhere(action).is_allowed());
    }
}

#[test]
fn targetless_actions_need_the_action_on_every_target() {
    let cases: &[(&str, Action, Option<&str>)] = &[
        ("read:*", Action::Read, None),
        ("read:*/*/*/*", Action::Read, None),
        ("admin:*", Action::Read, None),
        ("admin:*", Action::Admin, None),
        ("deploy:*", Action::Read, None),
        ("read:*", Action::Admin, Some("admin:*")),
        ("read:staging/*/*/*", Action::Read, Some("read:*")),
        ("read:*/*/*/api-*", Action::Read, Some("read:*")),
        ("deploy:staging/*/*/*", Action::Read, Some("read:*")),
        ("admin:staging/*/*/*", Action::Admin, Some("admin:*")),
        ("deploy:* rollback:* pin:*", Action::Admin, Some("admin:*")),
    ];
    for (text, action, expected) in cases {
        let got = scopes(text).allows_everywhere(*action);
        let want = match expected {
            None => Decision::Allow,
            Some(n) => Decision::Deny {
                needed: (*n).to_owned(),
            },
        };
        assert_eq!(got, want, "`{text}` {action}");
    }
}

#[test]
fn parser_errors_name_the_scope_and_the_problem() {
    let cases: &[(&str, &str)] = &[
        (
            "deploy:staging/*",
            "scope \"deploy:staging/*\": a target pattern has four parts environment/region/cluster/file (or is \"*\" for all), found 2",
        ),
        (
            "admin",
            "scope \"admin\": name the targets after a colon, e.g. \"admin:*\" or \"admin:staging/*/*/*\"",
        ),
        (
            "write:*",
            "scope \"write:*\": unknown action \"write\": use read, deploy, rollback, pin or admin",
        ),
        (
            "Deploy:*",
            "scope \"Deploy:*\": unknown action \"Deploy\": use read, deploy, rollback, pin or admin",
        ),
        (
            "deploy,:*",
            "scope \"deploy,:*\": an action is missing before or after a comma",
        ),
        (
            ":*",
            "scope \":*\": a scope is actions:targets, e.g. \"deploy:staging/*/*/*\"",
        ),
        (
            "",
            "scope \"\": a scope is actions:targets, e.g. \"deploy:staging/*/*/*\"",
        ),
        (
            "read:",
            "scope \"read:\": a target pattern has four parts environment/region/cluster/file (or is \"*\" for all), found 1",
        ),
        (
            "deploy:staging//*/*",
            "scope \"deploy:staging//*/*\": the region part of the target pattern is empty; use \"*\" to match any region",
        ),
        (
            "deploy:staging/*/*/api?",
            "scope \"deploy:staging/*/*/api?\": the file part \"api?\" may contain only letters, digits, \"-\", \"_\", \".\" and \"*\"",
        ),
        (
            "deploy:a/b/c/d/e",
            "scope \"deploy:a/b/c/d/e\": a target pattern has four parts environment/region/cluster/file (or is \"*\" for all), found 5",
        ),
        (
            "deploy:*:*",
            "scope \"deploy:*:*\": a target pattern has four parts environment/region/cluster/file (or is \"*\" for all), found 1",
        ),
    ];
    for (text, message) in cases {
        let err = Scope::parse(text).err().map(|e| e.to_string());
        assert_eq!(err.as_deref(), Some(*message), "{text:?}");
    }
    let long = format!("read:*/*/*/{}", "a".repeat(600));
    assert_eq!(
        Scope::parse(&long).err().map(|e| e.problem),
        Some(ScopeProblem::TooLong)
    );
    assert_eq!(Scope::parse("x:*").err().map(|e| e.kind()), Some("unknown_action"));
}

#[test]
fn control_characters_in_a_refused_scope_are_escaped() {
    let err = Scope::parse("deploy:a/b/c/\u{1b}[31m")
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(!err.contains('\u{1b}'), "{err}");
    assert!(err.contains("\\u{1b}"), "{err}");
}

#[test]
fn scopes_print_canonically_and_round_trip_through_json() {
    let s = scopes("pin,rollback:production/us-west-2/*/* read:*/*/*/* deploy:staging/*/*/api-*  read:*");
    assert_eq!(
        s.to_string(),
        "rollback,pin:production/us-west-2/*/* read:* deploy:staging/*/*/api-*"
    );
    let json = serde_json::to_string(&s).unwrap_or_default();
    assert_eq!(
        json,
        r#"["rollback,pin:production/us-west-2/*/*","read:*","deploy:staging/*/*/api-*"]"#
    );
    let back: Scopes = serde_json::from_str(&json).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(back, s);
    let bad: Result<Scopes, _> = serde_json::from_str(r#"["deploy:staging/*"]"#);
    assert!(bad.is_err());
}

#[test]
fn scopes_from_repeated_flags_are_merged() {
    let s =
        Scopes::parse_all(["read:*", "deploy:staging/*/*/* rollback:staging/*/*/*"]).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(s.iter().count(), 3);
    let err = Scopes::parse_all(["read:*", "deploy:staging/*"])
        .err()
        .map(|e| e.kind());
    assert_eq!(err, Some("wrong_part_count"));
}

#[test]
fn a_denial_becomes_a_forbidden_deploy_error() {
    let denied = scopes("read:*").allows(Action::Deploy, &PROD_API).into_result().err();
    let err = denied.map(deployer_core::error::DeployError::from);
    assert_eq!(err.as_ref().map(|e| e.code()), Some("missing_scope"));
    assert_eq!(
        err.map(|e| e.to_string()).as_deref(),
        Some("this token does not have the scope `deploy:production/us-west-2/prod-1/api`")
    );
}

#[test]
fn a_scope_target_comes_from_a_deployment_target() {
    use deployer_core::model::{AppFile, ClusterName, DeployRequest, Region, Target};
    let t = Target {
        region: Region::new("us-west-2").unwrap_or_else(|e| panic!("{e}")),
        cluster: ClusterName::new("prod-1").unwrap_or_else(|e| panic!("{e}")),
        file: AppFile::new("api.yaml").unwrap_or_else(|e| panic!("{e}")),
    };
    assert_eq!(ScopeTarget::of(Some("production"), &t), PROD_API);
    let json = r#"{"target":{"region":"us-west-2","cluster":"prod-1","file":"api"},
        "change":{"type":"none"},"requested_by":"ci"}"#;
    let mut request: DeployRequest = serde_json::from_str(json).unwrap_or_else(|e| panic!("{e}"));
    let no_environment = ScopeTarget {
        environment: None,
        ..PROD_API
    };
    assert_eq!(ScopeTarget::of_request(&request), no_environment);
    request.environment = Some("production".to_owned());
    assert_eq!(ScopeTarget::of_request(&request), PROD_API);
}
