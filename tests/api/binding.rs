//! FieldBindingService: coded fields checked on write against the classifier version in
//! effect, and the records a new version would leave with codes it does not accept.

use reestr::proto::v1::field_binding_service_client::FieldBindingServiceClient;
use reestr::proto::v1::{
    BindingImpact, CodeProblem, CreateFieldBindingRequest, CreateOrganizationRequest,
    DeleteFieldBindingRequest, DeprecatedCodes, FieldBinding, GetOrganizationRequest,
    GetRegisterStatisticsRequest, GetSystemRequest, Item, ListCodeUsagesRequest,
    ListFieldBindingsRequest, ListOrganizationsRequest, Organization, UpdateFieldBindingRequest,
    UpdateOrganizationRequest, UpdateSystemRequest, ValidateClassifierVersionRequest,
};
use tonic::{Code, Status};
use tonic_types::StatusExt;

use crate::classifier::{self, create_classifier, published, top};
use crate::helpers::{Authed, TestApp, assert_status, organization, spawn_app};
use crate::system;

/// A binding's name, its field, and systems per code.
type BoundCounts = (String, String, Vec<(String, i64)>);

/// A FieldBindingService client.
type Client = FieldBindingServiceClient<Authed>;

/// The administrator's FieldBindingService client.
fn bindings(app: &TestApp) -> Client {
    FieldBindingServiceClient::with_interceptor(
        app.channel(),
        crate::helpers::Bearer::new(Some(&app.admin_secret)),
    )
}

/// The shipped binding of an organisation's `region_code`.
const REGION: &str = "fieldBindings/organization-region";

/// Creates classifier `soato` of `stat` with a published version `1` holding `items`.
async fn soato(app: &mut TestApp, items: Vec<Item>) {
    app.create_organization("stat", "201234567").await;
    let mut c = app.classifiers();
    create_classifier(&mut c, "soato", classifier::spec())
        .await
        .expect("soato");
    published(&mut c, "soato", "1", None, items).await;
}

async fn create_org(
    app: &mut TestApp,
    id: &str,
    tin: &str,
    region: &str,
) -> Result<Organization, Status> {
    app.organizations
        .create_organization(CreateOrganizationRequest {
            organization: Some(Organization {
                region_code: region.into(),
                ..organization(tin)
            }),
            organization_id: id.into(),
            request_id: String::new(),
        })
        .await
        .map(tonic::Response::into_inner)
}

/// The (field, reason, description) of each field violation of `status`.
fn violations(status: &Status) -> Vec<(String, String, String)> {
    status
        .get_details_bad_request()
        .map(|b| {
            b.field_violations
                .into_iter()
                .map(|v| (v.field, v.reason, v.description))
                .collect()
        })
        .unwrap_or_default()
}

async fn usages(
    c: &mut Client,
    binding: &str,
    version: &str,
    page_size: i32,
) -> Vec<(String, String, String, CodeProblem, Vec<String>)> {
    let mut out = Vec::new();
    let mut page_token = String::new();
    loop {
        let page = c
            .list_code_usages(ListCodeUsagesRequest {
                field_binding: binding.into(),
                version: version.into(),
                page_size,
                page_token,
            })
            .await
            .unwrap_or_else(|e| panic!("usages of {binding} in {version:?}: {e:?}"))
            .into_inner();
        assert!(page.usages.len() <= usize::try_from(page_size).unwrap());
        out.extend(page.usages.into_iter().map(|u| {
            (
                u.resource,
                u.field,
                u.code,
                CodeProblem::try_from(u.problem).unwrap(),
                u.suggested_codes,
            )
        }));
        if page.next_page_token.is_empty() {
            return out;
        }
        page_token = page.next_page_token;
    }
}

#[tokio::test]
async fn a_bound_region_code_is_refused_when_unknown_or_deprecated_and_accepted_when_valid() {
    let mut app = spawn_app().await;
    // Before the classifier has a version in effect, the binding checks nothing.
    create_org(&mut app, "early", "201234500", "9999")
        .await
        .expect("no version of soato in effect yet");
    soato(
        &mut app,
        vec![
            top("1726", "Toshkent shahri"),
            top("1727", "Toshkent viloyati"),
            classifier::deprecated(top("1728", "Eski"), &["1727"]),
        ],
    )
    .await;

    let unknown = create_org(&mut app, "a", "201234501", "9999")
        .await
        .unwrap_err();
    assert_status(&unknown, Code::InvalidArgument, "INVALID_ARGUMENT");
    assert_eq!(
        violations(&unknown),
        [(
            "organization.region_code".to_string(),
            "UNKNOWN_CODE".to_string(),
            "\"9999\" is not a code of classifiers/soato/versions/1".to_string()
        )]
    );
    let deprecated = create_org(&mut app, "a", "201234501", "1728")
        .await
        .unwrap_err();
    assert_eq!(
        violations(&deprecated),
        [(
            "organization.region_code".to_string(),
            "DEPRECATED_CODE".to_string(),
            "\"1728\" is deprecated in classifiers/soato/versions/1; use \"1727\"".to_string()
        )]
    );
    let valid = create_org(&mut app, "a", "201234501", "1726")
        .await
        .expect("a valid code");
    assert_eq!(valid.region_code, "1726");
    assert!(valid.code_labels.is_empty(), "labels only when asked for");

    // A read can name the code in a language.
    let mut orgs = app.admin_organizations();
    let read = |language: &str| GetOrganizationRequest {
        name: "organizations/a".into(),
        label_language: language.into(),
    };
    let labelled = orgs
        .get_organization(read("ru"))
        .await
        .expect("labelled")
        .into_inner();
    assert_eq!(
        labelled.code_labels,
        [("region_code".to_string(), "Toshkent shahri".to_string())].into()
    );
    let unnamed = orgs
        .get_organization(read("kaa"))
        .await
        .expect("no name in that language")
        .into_inner();
    assert!(unnamed.code_labels.is_empty());
    let plain = orgs
        .get_organization(read(""))
        .await
        .expect("plain")
        .into_inner();
    assert!(plain.code_labels.is_empty());
    let bad = orgs.get_organization(read("xx")).await.unwrap_err();
    assert_eq!(violations(&bad)[0].0, "label_language");

    // An update that sets the field is checked; one that leaves it is not.
    let update = |region: &str, paths: &[&str]| UpdateOrganizationRequest {
        organization: Some(Organization {
            name: "organizations/a".into(),
            region_code: region.into(),
            tin: "201234502".into(),
            ..Default::default()
        }),
        update_mask: Some(prost_types::FieldMask {
            paths: paths.iter().map(|p| p.to_string()).collect(),
        }),
    };
    let refused = orgs
        .update_organization(update("9999", &["region_code"]))
        .await
        .unwrap_err();
    assert_eq!(violations(&refused)[0].1, "UNKNOWN_CODE");
    orgs.update_organization(update("", &["tin"]))
        .await
        .expect("a write that leaves the bound field");
    let early = orgs
        .update_organization(UpdateOrganizationRequest {
            organization: Some(Organization {
                name: "organizations/early".into(),
                tin: "201234503".into(),
                ..Default::default()
            }),
            update_mask: Some(prost_types::FieldMask {
                paths: vec!["tin".into()],
            }),
        })
        .await
        .expect("a record made before the check stays writable")
        .into_inner();
    assert_eq!(early.region_code, "9999");

    // The binding decides what a deprecated code gets, and whether the field is required.
    let mut c = bindings(&app);
    let binding = c
        .update_field_binding(UpdateFieldBindingRequest {
            field_binding: Some(FieldBinding {
                name: REGION.into(),
                deprecated_codes: DeprecatedCodes::Accept as i32,
                required: true,
                ..Default::default()
            }),
            update_mask: Some(prost_types::FieldMask {
                paths: vec!["deprecated_codes".into(), "required".into()],
            }),
        })
        .await
        .expect("update the binding")
        .into_inner();
    assert_eq!(binding.classifier, "classifiers/soato");
    assert_eq!(binding.deprecated_codes, DeprecatedCodes::Accept as i32);
    create_org(&mut app, "b", "201234504", "1728")
        .await
        .expect("a deprecated code the binding accepts");
    let missing = create_org(&mut app, "c", "201234505", "")
        .await
        .unwrap_err();
    assert_eq!(
        violations(&missing),
        [(
            "organization.region_code".to_string(),
            "CODE_REQUIRED".to_string(),
            "is required: it is bound to classifiers/soato".to_string()
        )]
    );

    // Without the binding, the field is free again.
    c.delete_field_binding(DeleteFieldBindingRequest {
        name: REGION.into(),
        etag: binding.etag,
    })
    .await
    .expect("delete the binding");
    create_org(&mut app, "d", "201234506", "9999")
        .await
        .expect("no binding, no check");
    let listed = c
        .list_field_bindings(ListFieldBindingsRequest::default())
        .await
        .expect("list")
        .into_inner();
    assert!(listed.field_bindings.is_empty(), "{listed:?}");
}

#[tokio::test]
async fn a_new_version_that_removes_a_code_lists_exactly_the_organisations_that_use_it() {
    let mut app = spawn_app().await;
    soato(
        &mut app,
        vec![
            top("1726", "Toshkent shahri"),
            top("1727", "Toshkent viloyati"),
            top("1728", "Samarqand"),
            top("1730", "Buxoro"),
        ],
    )
    .await;
    for (id, tin, region) in [
        ("a", "201234501", "1726"),
        ("b", "201234502", "1727"),
        ("c", "201234503", "1728"),
        ("d", "201234504", "1728"),
        ("e", "201234505", ""),
        ("f", "201234506", "1730"),
    ] {
        create_org(&mut app, id, tin, region).await.expect(id);
    }
    let mut c = bindings(&app);
    assert!(usages(&mut c, REGION, "", 100).await.is_empty());
    // A list names each organisation's region, too.
    let listed = app
        .admin_organizations()
        .list_organizations(ListOrganizationsRequest {
            label_language: "en".into(),
            filter: "kind = STATE_BODY".into(),
            ..Default::default()
        })
        .await
        .expect("list")
        .into_inner();
    let labels: Vec<(String, Option<String>)> = listed
        .organizations
        .into_iter()
        .map(|o| (o.name, o.code_labels.get("region_code").cloned()))
        .collect();
    let named = |n: &str| Some(n.to_string());
    assert_eq!(
        labels,
        [
            ("organizations/a".to_string(), named("Toshkent shahri")),
            ("organizations/b".to_string(), named("Toshkent viloyati")),
            ("organizations/c".to_string(), named("Samarqand")),
            ("organizations/d".to_string(), named("Samarqand")),
            ("organizations/e".to_string(), None),
            ("organizations/f".to_string(), named("Buxoro")),
            ("organizations/stat".to_string(), None),
        ]
    );

    // Version 2 removes 1727, deprecates 1728 in favour of 1726, keeps 1726 and 1730.
    let mut classifiers = app.classifiers();
    let draft = classifier::create_draft(&mut classifiers, "soato", "2", None)
        .await
        .expect("draft");
    classifier::upsert(
        &mut classifiers,
        &draft.name,
        vec![
            top("1726", "Toshkent shahri"),
            classifier::deprecated(top("1728", "Samarqand"), &["1726"]),
            top("1730", "Buxoro"),
        ],
    )
    .await
    .expect("items");
    let expected = vec![
        (
            "organizations/b".to_string(),
            "region_code".to_string(),
            "1727".to_string(),
            CodeProblem::Unknown,
            vec![],
        ),
        (
            "organizations/c".to_string(),
            "region_code".to_string(),
            "1728".to_string(),
            CodeProblem::Deprecated,
            vec!["1726".to_string()],
        ),
        (
            "organizations/d".to_string(),
            "region_code".to_string(),
            "1728".to_string(),
            CodeProblem::Deprecated,
            vec!["1726".to_string()],
        ),
    ];
    // Before publication, against the draft; one usage per page, so the pages are followed.
    assert_eq!(usages(&mut c, REGION, &draft.name, 1).await, expected);
    assert_eq!(usages(&mut c, REGION, &draft.name, 100).await, expected);
    // ValidateClassifierVersion counts them as a warning; the draft may still be published.
    let checked = classifiers
        .validate_classifier_version(ValidateClassifierVersionRequest {
            name: draft.name.clone(),
        })
        .await
        .expect("validate")
        .into_inner();
    assert!(checked.valid);
    assert_eq!(
        checked.binding_impacts,
        [BindingImpact {
            field_binding: REGION.into(),
            usage_count: 3,
        }]
    );
    // After, against the version in effect.
    classifier::publish(&mut classifiers, &draft.name)
        .await
        .expect("publish");
    assert_eq!(usages(&mut c, REGION, "", 2).await, expected);

    // A version of another classifier, or a token of another request, is refused.
    let other = c
        .list_code_usages(ListCodeUsagesRequest {
            field_binding: REGION.into(),
            version: "classifiers/other/versions/1".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_status(&other, Code::InvalidArgument, "INVALID_ARGUMENT");
    let first = c
        .list_code_usages(ListCodeUsagesRequest {
            field_binding: REGION.into(),
            page_size: 1,
            ..Default::default()
        })
        .await
        .expect("first page")
        .into_inner();
    let replayed = c
        .list_code_usages(ListCodeUsagesRequest {
            field_binding: REGION.into(),
            version: draft.name.clone(),
            page_size: 1,
            page_token: first.next_page_token,
        })
        .await
        .unwrap_err();
    assert_status(&replayed, Code::InvalidArgument, "INVALID_ARGUMENT");
}

#[tokio::test]
async fn a_binding_added_after_the_fact_leaves_old_records_readable_and_reports_them() {
    let mut app = spawn_app().await;
    app.create_organization("stat", "201234567").await;
    let mut systems = app.admin_systems();
    let mut census = system::system("stat", "CENSUS");
    census.security = Some(reestr::proto::v1::SecurityProfile {
        data_categories: vec!["passport".into(), "tax".into()],
        ..Default::default()
    });
    system::create(&mut systems, "census", census)
        .await
        .expect("a system with free-text categories");

    let mut classifiers = app.classifiers();
    create_classifier(
        &mut classifiers,
        "categories",
        reestr::proto::v1::Classifier {
            code_pattern: "[a-z]{2,20}".into(),
            hierarchical: false,
            max_depth: 0,
            ..classifier::spec()
        },
    )
    .await
    .expect("categories");
    published(
        &mut classifiers,
        "categories",
        "1",
        None,
        vec![top("tax", "Tax"), top("health", "Health")],
    )
    .await;

    let mut c = bindings(&app);
    let create = |id: &str, field: &str, classifier: &str| CreateFieldBindingRequest {
        field_binding: Some(FieldBinding {
            field: field.into(),
            classifier: classifier.into(),
            ..Default::default()
        }),
        field_binding_id: id.into(),
    };
    let missing = c
        .create_field_binding(create(
            "categories",
            "InformationSystem.security.data_categories",
            "classifiers/nothing",
        ))
        .await
        .unwrap_err();
    assert_status(&missing, Code::FailedPrecondition, "REFERENCE_NOT_FOUND");
    let unknown_field = c
        .create_field_binding(create(
            "x",
            "InformationSystem.purpose",
            "classifiers/categories",
        ))
        .await
        .unwrap_err();
    assert_status(&unknown_field, Code::InvalidArgument, "INVALID_ARGUMENT");
    let binding = c
        .create_field_binding(create(
            "categories",
            "InformationSystem.security.data_categories",
            "classifiers/categories",
        ))
        .await
        .expect("bind the categories")
        .into_inner();
    assert_eq!(binding.name, "fieldBindings/categories");
    assert_eq!(binding.deprecated_codes, DeprecatedCodes::Refuse as i32);
    let twice = c
        .create_field_binding(create(
            "again",
            "InformationSystem.security.data_categories",
            "classifiers/categories",
        ))
        .await
        .unwrap_err();
    assert_status(&twice, Code::AlreadyExists, "RESOURCE_ALREADY_EXISTS");

    // The old record reads as it was, and is reported.
    let read = systems
        .get_system(GetSystemRequest {
            name: "systems/census".into(),
            ..Default::default()
        })
        .await
        .expect("still readable")
        .into_inner();
    assert_eq!(read.security.unwrap().data_categories, ["passport", "tax"]);
    let labelled = systems
        .get_system(GetSystemRequest {
            name: "systems/census".into(),
            label_language: "en".into(),
            ..Default::default()
        })
        .await
        .expect("labelled")
        .into_inner();
    assert_eq!(
        labelled.code_labels,
        [("security.data_categories[1]".to_string(), "Tax".to_string())].into()
    );
    assert_eq!(
        usages(&mut c, &binding.name, "", 10).await,
        [(
            "systems/census".to_string(),
            "security.data_categories[0]".to_string(),
            "passport".to_string(),
            CodeProblem::Unknown,
            vec![]
        )]
    );
    // A write of another field goes through; one that sets the categories is checked.
    let update = |categories: &[&str], paths: &[&str]| UpdateSystemRequest {
        system: Some(reestr::proto::v1::InformationSystem {
            name: "systems/census".into(),
            purpose: "Counts people".into(),
            security: Some(reestr::proto::v1::SecurityProfile {
                data_categories: categories.iter().map(|c| c.to_string()).collect(),
                ..Default::default()
            }),
            ..Default::default()
        }),
        update_mask: Some(prost_types::FieldMask {
            paths: paths.iter().map(|p| p.to_string()).collect(),
        }),
    };
    systems
        .update_system(update(&[], &["purpose"]))
        .await
        .expect("another field");
    let refused = systems
        .update_system(update(
            &["health", "passport"],
            &["security.data_categories"],
        ))
        .await
        .unwrap_err();
    assert_eq!(
        violations(&refused),
        [(
            "system.security.data_categories[1]".to_string(),
            "UNKNOWN_CODE".to_string(),
            "\"passport\" is not a code of classifiers/categories/versions/1".to_string()
        )]
    );
    systems
        .update_system(update(&["health", "tax"], &["security.data_categories"]))
        .await
        .expect("codes of the classifier");
    assert!(usages(&mut c, &binding.name, "", 10).await.is_empty());

    // The register's statistics count systems per code of the bound field.
    system::create(&mut systems, "tax", {
        let mut s = system::system("stat", "TAX");
        s.security = Some(reestr::proto::v1::SecurityProfile {
            data_categories: vec!["tax".into()],
            ..Default::default()
        });
        s
    })
    .await
    .expect("another system");
    let statistics = systems
        .get_register_statistics(GetRegisterStatisticsRequest {})
        .await
        .expect("statistics")
        .into_inner();
    let counts: Vec<BoundCounts> = statistics
        .by_bound_field
        .into_iter()
        .map(|b| {
            (
                b.field_binding,
                b.field,
                b.counts.into_iter().map(|c| (c.key, c.count)).collect(),
            )
        })
        .collect();
    assert_eq!(
        counts,
        [(
            "fieldBindings/categories".to_string(),
            "InformationSystem.security.data_categories".to_string(),
            vec![("health".to_string(), 1), ("tax".to_string(), 2)]
        )]
    );
}
