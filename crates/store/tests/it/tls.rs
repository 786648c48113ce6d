//! PostgreSQL over TLS (rustls): every `sslmode` against a private server
//! with `ssl = on` and certificates made by the test, through the pool,
//! single connections, LISTEN and the migrations.

use std::path::PathBuf;
use std::time::Duration;

use diesel::sql_types::{Bool, Text};
use diesel::QueryableByName;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use futures_util::StreamExt;
use store::{Error, TlsError};
use testkit::cluster::{CertPair, ClusterConfig, TempCluster, TestPki};

#[derive(QueryableByName)]
struct Ssl {
    #[diesel(sql_type = Bool)]
    ssl: bool,
}

#[derive(QueryableByName)]
struct Who {
    #[diesel(sql_type = Text)]
    name: String,
}

/// Whether this connection's backend sees TLS.
async fn is_tls(conn: &mut AsyncPgConnection) -> bool {
    let r: Ssl = diesel::sql_query("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
        .get_result(conn)
        .await
        .expect("pg_stat_ssl");
    r.ssl
}

/// A server with TLS whose certificate names only `localhost` (not
/// 127.0.0.1), signed by `pki`'s CA; and that CA and another one as files.
struct Tls {
    cluster: TempCluster,
    ca: PathBuf,
    wrong_ca: PathBuf,
}

impl Tls {
    fn start(pki: &TestPki, extra: ClusterConfig) -> Tls {
        let config = ClusterConfig {
            tls: Some(pki.server(&["localhost"]).expect("server certificate")),
            ..extra
        };
        let cluster = TempCluster::start_with(config).expect("TLS server");
        let ca = cluster.write_file("ca.pem", &pki.ca_pem).expect("ca file");
        let other = TestPki::new("some other CA").expect("other CA");
        let wrong_ca = cluster
            .write_file("wrong-ca.pem", &other.ca_pem)
            .expect("wrong ca file");
        Tls {
            cluster,
            ca,
            wrong_ca,
        }
    }

    /// A URL to the server by the name its certificate holds (`localhost`,
    /// reached at 127.0.0.1) with `params`.
    fn by_name(&self, params: &str) -> String {
        format!(
            "postgres://postgres@localhost:{}/postgres?hostaddr=127.0.0.1&{params}",
            self.cluster.port
        )
    }

    /// A URL to the server by address (not a name in its certificate).
    fn by_address(&self, params: &str) -> String {
        format!(
            "postgres://postgres@127.0.0.1:{}/postgres?{params}",
            self.cluster.port
        )
    }
}

fn handshake_error(e: Error) -> (String, rustls::Error) {
    let text = e.to_string();
    match e {
        Error::Tls(TlsError::Handshake { error, .. }) => (text, error),
        other => panic!("expected a TLS handshake error, got {other:?}"),
    }
}

#[tokio::test]
async fn verify_full_checks_the_ca_and_the_host_name() {
    let pki = TestPki::new("switchboard test CA").expect("CA");
    let s = Tls::start(&pki, ClusterConfig::default());
    let ca = s.ca.display().to_string();
    let wrong = s.wrong_ca.display().to_string();

    // The right CA and the name in the certificate: encrypted.
    let url = s.by_name(&format!("sslmode=verify-full&sslrootcert={ca}"));
    let mut c = store::connect(&url).await.expect("verify-full connects");
    assert!(is_tls(&mut c).await, "pg_stat_ssl says TLS");

    // Another CA: refused, saying why.
    let e = store::connect(&s.by_name(&format!("sslmode=verify-full&sslrootcert={wrong}")))
        .await
        .err()
        .expect("a certificate of another CA is refused");
    let (text, error) = handshake_error(e);
    assert!(
        matches!(
            error,
            rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer)
        ),
        "{text}"
    );
    assert!(
        text.contains("not signed by a CA in sslrootcert=") && text.contains("verify-full"),
        "{text}"
    );

    // The right CA, but a host the certificate does not name: refused.
    let e = store::connect(&s.by_address(&format!("sslmode=verify-full&sslrootcert={ca}")))
        .await
        .err()
        .expect("a host not in the certificate is refused");
    let (text, _) = handshake_error(e);
    assert!(
        text.contains("does not name the host") && text.contains("127.0.0.1"),
        "{text}"
    );

    // verify-ca checks the CA, not the name.
    let mut c = store::connect(&s.by_address(&format!("sslmode=verify-ca&sslrootcert={ca}")))
        .await
        .expect("verify-ca ignores the host name");
    assert!(is_tls(&mut c).await);
    let e = store::connect(&s.by_address(&format!("sslmode=verify-ca&sslrootcert={wrong}")))
        .await
        .err()
        .expect("verify-ca still checks the CA");
    handshake_error(e);

    // require: encrypted, nothing verified (as libpq) ...
    let mut c = store::connect(&s.by_address("sslmode=require"))
        .await
        .expect("require connects without a CA");
    assert!(is_tls(&mut c).await);
    // ... unless a CA is given: then as verify-ca (as libpq).
    let e = store::connect(&s.by_address(&format!("sslmode=require&sslrootcert={wrong}")))
        .await
        .err()
        .expect("require with a CA file verifies it");
    handshake_error(e);

    // prefer takes TLS when offered; disable and no sslmode stay plain.
    let mut c = store::connect(&s.by_address("sslmode=prefer"))
        .await
        .expect("prefer");
    assert!(is_tls(&mut c).await);
    for params in ["sslmode=disable", "application_name=plain"] {
        let mut c = store::connect(&s.by_address(params)).await.expect("plain");
        assert!(!is_tls(&mut c).await, "{params}: plain TCP");
    }

    // The pool opens its connections the same way.
    let pool = store::pool(&url, 2, Duration::from_secs(10)).expect("pool");
    let mut c = pool.get().await.expect("pooled connection");
    assert!(is_tls(&mut c).await, "pooled connection over TLS");
    let bad = store::pool(
        &s.by_name(&format!("sslmode=verify-full&sslrootcert={wrong}")),
        1,
        Duration::from_secs(5),
    )
    .expect("pool is built lazily");
    let e = bad.get().await.err().expect("pool refuses the wrong CA");
    assert!(e.to_string().contains("not signed by a CA"), "{e}");
}

#[tokio::test]
async fn listen_and_notify_over_tls() {
    let pki = TestPki::new("switchboard test CA").expect("CA");
    let s = Tls::start(&pki, ClusterConfig::default());
    let url = s.by_name(&format!(
        "sslmode=verify-full&sslrootcert={}",
        s.ca.display()
    ));
    let mut listener = store::connect(&url).await.expect("listener");
    diesel::sql_query("LISTEN switchboard_test")
        .execute(&mut listener)
        .await
        .expect("LISTEN");
    let mut sender = store::connect(&url).await.expect("sender");
    diesel::sql_query("NOTIFY switchboard_test, 'hello'")
        .execute(&mut sender)
        .await
        .expect("NOTIFY");
    let mut stream = std::pin::pin!(listener.notifications_stream());
    let n = tokio::time::timeout(Duration::from_secs(10), stream.next())
        .await
        .expect("a notification in time")
        .expect("stream open")
        .expect("notification");
    assert_eq!(
        (n.channel.as_str(), n.payload.as_str()),
        ("switchboard_test", "hello")
    );
}

#[tokio::test]
async fn migrations_run_over_tls() {
    let pki = TestPki::new("switchboard test CA").expect("CA");
    let s = Tls::start(&pki, ClusterConfig::default());
    s.cluster.create_db("switchboard").expect("database");
    let url = format!(
        "postgres://postgres@localhost:{}/switchboard?hostaddr=127.0.0.1&sslmode=verify-full&sslrootcert={}",
        s.cluster.port,
        s.ca.display()
    );
    let applied = store::migrate(&url).await.expect("migrate over TLS");
    assert!(!applied.is_empty(), "migrations applied");
    assert!(store::migrate(&url).await.expect("again").is_empty());
    let mut c = store::connect(&url).await.expect("connect");
    assert!(is_tls(&mut c).await);
    let r: Who = diesel::sql_query("SELECT to_regclass('webhook_events')::text AS name")
        .get_result(&mut c)
        .await
        .expect("schema");
    assert_eq!(r.name, "webhook_events");
    // A wrong CA fails the migration with the TLS error, not a retryable
    // connection error.
    let wrong = url.replace(
        &s.ca.display().to_string(),
        &s.wrong_ca.display().to_string(),
    );
    let e = store::migrate(&wrong).await.expect_err("refused");
    assert!(matches!(e, Error::Tls(_)), "{e}");
}

#[tokio::test]
async fn client_certificates_authenticate() {
    let pki = TestPki::new("switchboard test CA").expect("CA");
    let s = Tls::start(
        &pki,
        ClusterConfig {
            client_ca: Some(pki.ca_pem.clone()),
            hba: vec!["hostssl all certuser 127.0.0.1/32 cert".to_string()],
            ..ClusterConfig::default()
        },
    );
    s.cluster
        .psql("postgres", &["-c", "CREATE ROLE certuser LOGIN"])
        .expect("role");
    let CertPair { cert_pem, key_pem } = pki.client("certuser").expect("client certificate");
    let cert = s.cluster.write_file("client.crt", &cert_pem).expect("cert");
    let key = s.cluster.write_file("client.key", &key_pem).expect("key");
    let base = format!(
        "postgres://certuser@localhost:{}/postgres?hostaddr=127.0.0.1&sslmode=verify-full&sslrootcert={}",
        s.cluster.port,
        s.ca.display()
    );
    let mut c = store::connect(&format!(
        "{base}&sslcert={}&sslkey={}",
        cert.display(),
        key.display()
    ))
    .await
    .expect("certificate authentication");
    let r: Who = diesel::sql_query("SELECT current_user::text AS name")
        .get_result(&mut c)
        .await
        .expect("who");
    assert_eq!(r.name, "certuser");
    let e = store::connect(&base)
        .await
        .err()
        .expect("no certificate, no entry");
    assert!(
        e.to_string()
            .contains("requires a valid client certificate"),
        "{e}"
    );
}

#[tokio::test]
async fn require_fails_clearly_when_the_server_has_no_tls() {
    let cluster = TempCluster::start().expect("server without TLS");
    let url = format!(
        "postgres://postgres@127.0.0.1:{}/postgres?sslmode=require",
        cluster.port
    );
    let e = store::connect(&url).await.err().expect("refused");
    assert!(
        matches!(e, Error::Tls(TlsError::NotOffered { .. })),
        "{e:?}"
    );
    assert!(e.to_string().contains("does not accept TLS"), "{e}");
    // prefer falls back to plain TCP.
    let mut c = store::connect(&url.replace("require", "prefer"))
        .await
        .expect("prefer falls back");
    assert!(!is_tls(&mut c).await);
}
