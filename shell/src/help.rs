//! The help registry: one entry for every function the shell registers.
//!
//! `help()` lists the entries and `help("name")` shows one. A test compares
//! the engine's registered functions with this table, so a function cannot be
//! added without help.

/// The role a function belongs to, for grouping in `help()`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Group {
    /// Instances, files, output and help.
    Shell,
    /// The CA server role.
    Server,
    /// The CA client role.
    Client,
    /// Mutual TLS between clients that hold certificates.
    Tls,
}

impl Group {
    fn title(self) -> &'static str {
        match self {
            Group::Shell => "shell",
            Group::Server => "CA server",
            Group::Client => "CA client",
            Group::Tls => "TLS between clients",
        }
    }
}

/// The help of one function.
#[derive(Debug, Clone, Copy)]
pub struct FunctionHelp {
    /// The name scripts call.
    pub name: &'static str,
    /// The parameters, as in a call: `(options)`, `(id, reason)`.
    pub parameters: &'static str,
    /// The function's effect and result, in one line.
    pub summary: &'static str,
    /// The options and fields in detail, one per line; empty when there are none.
    pub details: &'static str,
    /// A call as a script would write it.
    pub example: &'static str,
    /// The group it is listed under.
    pub group: Group,
    /// Whether instance values have it as a method (`ca.pending()`), acting on that instance.
    pub method: bool,
}

/// Every function of the shell.
pub const FUNCTIONS: &[FunctionHelp] = &[
    FunctionHelp {
        name: "help",
        parameters: "() or (name)",
        summary: "lists every function, or shows one function's parameters and an example",
        details: "",
        example: "help(\"submit\")",
        group: Group::Shell,
        method: false,
    },
    FunctionHelp {
        name: "instance",
        parameters: "(directory)",
        summary: "opens another instance directory (created if missing); its methods act on it",
        details: "A relative directory is relative to the current directory.\n\
                  The plain functions act on the instance the shell was started on (--instance).",
        example: "let ca = instance(\"dir1\"); ca.pending()",
        group: Group::Shell,
        method: false,
    },
    FunctionHelp {
        name: "instance_dir",
        parameters: "()",
        summary: "returns the instance's directory as an absolute path",
        details: "",
        example: "print(ca.instance_dir())",
        group: Group::Shell,
        method: true,
    },
    FunctionHelp {
        name: "temp_dir",
        parameters: "() or (parent)",
        summary: "creates a new, empty directory and returns its path; it is kept after the shell exits",
        details: "Without a parent the directory is made in the system's temporary directory.\n\
                  With a parent (created if missing) it is a new subdirectory there, so every call gives a fresh one.",
        example: "let base = temp_dir(); let ca = instance(base + \"/ca\");",
        group: Group::Shell,
        method: false,
    },
    FunctionHelp {
        name: "env",
        parameters: "(name)",
        summary: "returns an environment variable's value, or () when it is not set",
        details: "Use ?? for a default: env(\"CERTA_DEMO\") ?? \"off\".",
        example: "let port = env(\"CA_PORT\") ?? \"8443\";",
        group: Group::Shell,
        method: false,
    },
    FunctionHelp {
        name: "show",
        parameters: "(value)",
        summary: "prints a value as the REPL shows results: aligned key: value lines",
        details: "",
        example: "show(pending())",
        group: Group::Shell,
        method: false,
    },
    FunctionHelp {
        name: "verify_chain",
        parameters: "(ca_certificate, certificate)",
        summary: "checks that a certificate is signed by a CA certificate and both are valid now; returns #{valid, subject, issuer, reason}",
        details: "Both are paths to PEM files. The result's valid field is true or false, and reason says why a chain is not valid.",
        example: "verify_chain(\"client/FLCA.cer\", \"client/FLCAclient.cer\")",
        group: Group::Shell,
        method: false,
    },
    FunctionHelp {
        name: "configure_server",
        parameters: "(options)",
        summary: "makes the instance a CA server with a new key pair and a self-signed CA certificate",
        details: "root: file name root of the CA's files, such as \"FLCA\" (required)\n\
                  directory: the CA directory, relative to the instance (required)\n\
                  subject: #{cn, o, ou, l, st, c, email}; cn is required\n\
                  algorithm: ecdsa-p256 (default), ecdsa-p384, rsa-2048, rsa-3072, rsa-4096, ed25519\n\
                  validity_days: validity of the CA certificate in days\n\
                  key: where the CA key goes: file:PATH (default DIRECTORY/ROOT.key) or a pkcs11: URI\n\
                  replace: true to replace a CA set up before (its directory is removed)\n\
                  password, password_env: the key's password, or the variable holding it (default CERTA_CA_PASSWORD);\n\
                  pin, pin_env: the same for a token's PIN; the REPL asks when none is given",
        example: "configure_server(#{root: \"FLCA\", directory: \"flca\", subject: #{cn: \"First Look CA\"}})",
        group: Group::Server,
        method: true,
    },
    FunctionHelp {
        name: "configure_intermediate",
        parameters: "(options)",
        summary: "makes the instance a CA server from an outside CA's private key file and the certificate it signed",
        details: "root, directory: as for configure_server (required)\n\
                  key_file: the existing private key, a PKCS#8 PEM file, encrypted or not; it is copied into the CA directory\n\
                  key: instead of key_file, a pkcs11: URI of a key on a token\n\
                  certificate: the CA certificate the outside CA issued for that key, PEM (required)\n\
                  chain: the outside CA's certificates, PEM, the issuer first (optional)\n\
                  replace: true to replace a CA set up before\n\
                  password, password_env, pin, pin_env: the key's password or PIN (default CERTA_CA_PASSWORD)\n\
                  unencrypted: true when key_file has no password\n\
                  Paths are relative to the current directory.",
        example: "configure_intermediate(#{root: \"SUBCA\", directory: \"subca\", key_file: \"sub.key\", certificate: \"sub.cer\"})",
        group: Group::Server,
        method: true,
    },
    FunctionHelp {
        name: "configure_https",
        parameters: "(options)",
        summary: "issues the CA server a tls-server certificate for its own names, so that serve() uses HTTPS",
        details: "names: the DNS names and IP addresses clients connect to, such as [\"ca.example.org\", \"192.0.2.7\"] (required)\n\
                  algorithm: the HTTPS key's algorithm, as for configure_server (default ecdsa-p256)\n\
                  key: where the HTTPS key goes: file:PATH (default DIRECTORY/https/ROOT-https.key) or a pkcs11: URI\n\
                  reuse_key: true to certify the key made before, as when renewing a key on a token\n\
                  validity_days: validity in days (default from the instance's settings)\n\
                  require_client_certificates: true to let only clients with a certificate from this CA\n\
                  list and download certificates; submitting and the CA certificate stay open\n\
                  (require_client_certificate is accepted as well)\n\
                  The CA key, which signs the certificate:\n\
                  password, password_env, pin, pin_env: its password or PIN (default CERTA_CA_PASSWORD);\n\
                  unencrypted: true when the CA key file has no password\n\
                  The HTTPS key, which serve() uses:\n\
                  key_password, key_password_env, key_pin, key_pin_env: its password or PIN\n\
                  (default CERTA_HTTPS_KEY_PASSWORD); unencrypted_key: true to store it without a password\n\
                  The request goes through the CA's records like any other. Running it again replaces the\n\
                  certificate and the default key file and keeps the old ones as NAME.replaced-TIMESTAMP;\n\
                  the result's replaced and replaced_key fields name them.",
        example: "ca.configure_https(#{names: [\"127.0.0.1\"], unencrypted_key: true})",
        group: Group::Server,
        method: true,
    },
    FunctionHelp {
        name: "serve",
        parameters: "() or (options)",
        summary: "serves the instance's API over HTTP or HTTPS in the background; returns #{address, host, port, url}",
        details: "listen: the address to bind, such as \"127.0.0.1:0\" (port 0 picks a free port);\n\
                  the default is the listen address in the instance's settings.\n\
                  https: true to serve over TLS with the certificate configure_https made, false for plain HTTP;\n\
                  the default is HTTPS once configure_https has run\n\
                  require_client_certificates: true or false, for this run, in place of the setting\n\
                  configure_https recorded: listing and downloading certificates need a client certificate\n\
                  (require_client_certificate is accepted as well)\n\
                  password, password_env, pin, pin_env: the HTTPS key's secret (default CERTA_HTTPS_KEY_PASSWORD);\n\
                  an unencrypted key needs none.\n\
                  The server stops with stop_serving() or when the shell exits.",
        example: "let server = ca.serve(#{listen: \"127.0.0.1:0\"}); print(server.port)",
        group: Group::Server,
        method: true,
    },
    FunctionHelp {
        name: "stop_serving",
        parameters: "()",
        summary: "stops the instance's HTTP server; returns true if one was running",
        details: "",
        example: "ca.stop_serving()",
        group: Group::Server,
        method: true,
    },
    FunctionHelp {
        name: "pending",
        parameters: "()",
        summary: "lists the requests waiting for the operator, oldest first",
        details: "Each item has id, name, subject, received and contact fields.",
        example: "for request in ca.pending() { print(request.id) }",
        group: Group::Server,
        method: true,
    },
    FunctionHelp {
        name: "show_request",
        parameters: "(id)",
        summary: "shows one request: subject, public key, requested names, contact and state",
        details: "",
        example: "show_request(\"0001\")",
        group: Group::Server,
        method: true,
    },
    FunctionHelp {
        name: "issue",
        parameters: "(id) or (id, options)",
        summary: "issues a certificate for a pending request; returns its number, path and fingerprints",
        details: "usage: tls (default), tls-server, tls-client, signing, sub-ca\n\
                  validity_days: validity in days (default from the instance's settings)\n\
                  password, password_env, pin, pin_env: the CA key's secret (default CERTA_CA_PASSWORD)\n\
                  unencrypted: true when the CA key file has no password",
        example: "issue(request.id, #{usage: \"tls\"})",
        group: Group::Server,
        method: true,
    },
    FunctionHelp {
        name: "issue_all",
        parameters: "() or (options)",
        summary: "issues every pending request with one usage; returns the list of issued certificates",
        details: "Takes the options of issue. Unlocks the CA key once and shows progress at a terminal.",
        example: "ca.issue_all(#{usage: \"tls-client\"})",
        group: Group::Server,
        method: true,
    },
    FunctionHelp {
        name: "reject",
        parameters: "(id, reason)",
        summary: "rejects a pending request with a reason the requester can read",
        details: "",
        example: "reject(request.id, \"unknown requester\")",
        group: Group::Server,
        method: true,
    },
    FunctionHelp {
        name: "issued",
        parameters: "()",
        summary: "lists the certificates the CA has issued, by number",
        details: "Each item has number, subject, not_after, path and request fields.",
        example: "for cert in ca.issued() { print(cert.number) }",
        group: Group::Server,
        method: true,
    },
    FunctionHelp {
        name: "configure_client",
        parameters: "(options)",
        summary: "makes the instance a client of a CA server",
        details: "host: the server's host name or address (required)\n\
                  port: the server's port (required)\n\
                  https: true when the server serves HTTPS; the first fetch_ca_certificate then checks\n\
                  the CA certificate's fingerprint\n\
                  contact: #{name, phone, email}, the technical contact sent with each request; name is required",
        example: "configure_client(#{host: \"127.0.0.1\", port: 8443, contact: #{name: \"Ada Operator\"}})",
        group: Group::Client,
        method: true,
    },
    FunctionHelp {
        name: "submit",
        parameters: "(options)",
        summary: "makes a key pair and sends a CSR to the CA server; returns the request id and the CSR's SHA-1 fingerprint",
        details: "root: file name root of the key and certificate, such as \"FLCAclient\" (required)\n\
                  subject: #{cn, o, ou, l, st, c, email}; cn is required\n\
                  sans: subject alternative names, such as [\"host.example.org\", \"192.0.2.7\"]\n\
                  algorithm: as for configure_server (default ecdsa-p256)\n\
                  key: where the key pair goes: file:PATH (default CLIENT_DIR/ROOT.key) or a pkcs11: URI,\n\
                  such as \"pkcs11:token=T;object=web?module-path=/usr/lib/softhsm/libsofthsm2.so&pin-source=env:PIN\";\n\
                  later calls for the root use the same key\n\
                  reuse_key: true to send a new CSR for the key made before for the root\n\
                  password, password_env: the new key's password (default CERTA_KEY_PASSWORD);\n\
                  pin, pin_env: a token's PIN when the key URI names no pin-source\n\
                  unencrypted: true to store the key file without a password",
        example: "submit(#{root: \"web\", subject: #{cn: \"web.example.org\"}, sans: [\"web.example.org\"], unencrypted: true})",
        group: Group::Client,
        method: true,
    },
    FunctionHelp {
        name: "fetch_ca_certificate",
        parameters: "() or (options)",
        summary: "downloads the CA certificate, saves it as ROOT.cer in the client directory, returns its path and fingerprints",
        details: "fingerprint: the CA certificate's SHA-256 fingerprint, as the CA operator reads it out\n\
                  (hex, colons optional). Over HTTPS the first download needs it: the client looks at the\n\
                  certificate the server presents, sends nothing unless the fingerprint matches, and then\n\
                  trusts that certificate. Without it, the REPL shows the fingerprints and asks [y/N];\n\
                  a script fails with fingerprint_required.",
        example: "let ca_cert = client.fetch_ca_certificate(#{fingerprint: \"3A:F1:...\"}); print(ca_cert.sha256)",
        group: Group::Client,
        method: true,
    },
    FunctionHelp {
        name: "list_certificates",
        parameters: "() or (options)",
        summary: "lists the certificates the server has issued for this client's requests",
        details: "client_certificate: the file name root of a certificate this client holds, presented\n\
                  to a server that requires client certificates\n\
                  client_certificate_password, client_certificate_password_env, client_certificate_pin,\n\
                  client_certificate_pin_env: that certificate key's secret (default CERTA_KEY_PASSWORD);\n\
                  as it is the only key this call unlocks, password, password_env, pin and pin_env work too",
        example: "client.list_certificates()",
        group: Group::Client,
        method: true,
    },
    FunctionHelp {
        name: "fetch_certificate",
        parameters: "(root) or (root, options)",
        summary: "downloads the newest certificate issued for a request, checks it and saves it as ROOT.cer",
        details: "root: the file name root given to submit, or the request id.\n\
                  options: password, password_env (default CERTA_KEY_PASSWORD) for an encrypted key,\n\
                  whose public key is compared with the certificate's; an unencrypted key needs none;\n\
                  pin, pin_env for a key on a token whose URI names no pin-source.\n\
                  client_certificate: the file name root of a certificate this client holds, presented to a\n\
                  server that requires client certificates\n\
                  client_certificate_password, client_certificate_password_env, client_certificate_pin,\n\
                  client_certificate_pin_env: the secret of that certificate's key (default CERTA_KEY_PASSWORD).\n\
                  When client_certificate is the same root, its key is the same key: password and the\n\
                  other plain options give its secret once.\n\
                  The REPL names the root in each prompt: \"key password of web for fetch_certificate:\".",
        example: "client.fetch_certificate(\"web-2025\", #{client_certificate: \"web\", client_certificate_password_env: \"WEB_KEY_PASSWORD\"})",
        group: Group::Client,
        method: true,
    },
    FunctionHelp {
        name: "tls_listen",
        parameters: "(options)",
        summary: "listens for mutual TLS connections with the client's certificate; returns a listener that accepts in the background",
        details: "root: the file name root of the client's certificate and key, as given to submit (required)\n\
                  listen: the address to bind (default \"127.0.0.1:0\"; port 0 picks a free port)\n\
                  peer_name: a DNS name or IP address, or an array of them, of which the client's\n\
                  certificate must carry one in its subjectAltName (default: any name)\n\
                  require_client_certificates: false to accept clients without a certificate (default true;\n\
                  require_client_certificate is accepted as well)\n\
                  password, password_env, pin, pin_env: the key's secret, as for fetch_certificate\n\
                  Peers must have certificates from the CA whose certificate fetch_ca_certificate saved.\n\
                  The listener has the properties host, port, address and subject;\n\
                  take connections with accept(listener) and stop with stop_listening(listener).",
        example: "let listener = alice.tls_listen(#{root: \"alice\", peer_name: \"bob.example.org\"}); print(listener.port)",
        group: Group::Tls,
        method: true,
    },
    FunctionHelp {
        name: "accept",
        parameters: "(listener) or (listener, seconds)",
        summary: "takes the next connection whose handshake the listener completed; waits up to 30 s or the given seconds",
        details: "A handshake that failed is thrown as an error whose code names the check:\n\
                  tls_untrusted_issuer, tls_expired, tls_not_yet_valid, tls_name_mismatch, tls_no_certificate,\n\
                  tls_wrong_usage, tls_rejected_by_peer; tls_timed_out when no connection came in time.\n\
                  Connections and failed handshakes come out in the order they arrived: after a failed\n\
                  attempt, accept throws that failure even when a good connection waits behind it.\n\
                  Catch the error and call accept again to reach the next one, as in the example.",
        example: "let connection = (); while connection == () { try { connection = listener.accept(10); } catch (err) { if err.code == \"tls_timed_out\" { throw err; } print(\"refused: \" + err.code); } }",
        group: Group::Tls,
        method: false,
    },
    FunctionHelp {
        name: "stop_listening",
        parameters: "(listener)",
        summary: "stops accepting and closes the listening socket; returns true if the listener was accepting",
        details: "Connections accepted before stay open.",
        example: "listener.stop_listening()",
        group: Group::Tls,
        method: false,
    },
    FunctionHelp {
        name: "tls_connect",
        parameters: "(options)",
        summary: "connects with mutual TLS to a listener and verifies its certificate; returns the connection",
        details: "host, port: the listener's address (required)\n\
                  server_name: the DNS name or IP address the listener's certificate must carry (default: host)\n\
                  root: the file name root of the client's own certificate and key, sent when the listener asks;\n\
                  without root no certificate is sent\n\
                  password, password_env, pin, pin_env: the key's secret, as for fetch_certificate\n\
                  A failed check is an error with a tls_... code, as for accept; when the listener rejects\n\
                  this client's certificate, the code is tls_rejected_by_peer.",
        example: "let connection = bob.tls_connect(#{root: \"bob\", host: listener.host, port: listener.port, server_name: \"alice.example.org\"})",
        group: Group::Tls,
        method: true,
    },
    FunctionHelp {
        name: "send",
        parameters: "(connection, text)",
        summary: "sends one message: a line of UTF-8 text of at most 64 KiB",
        details: "",
        example: "connection.send(\"hello\")",
        group: Group::Tls,
        method: false,
    },
    FunctionHelp {
        name: "receive",
        parameters: "(connection) or (connection, seconds)",
        summary: "waits for the next message up to 30 s or the given seconds; returns it, or () when the peer closed the connection",
        details: "Throws tls_timed_out when no message came in time.",
        example: "let reply = connection.receive(5); if reply == () { print(\"closed\") }",
        group: Group::Tls,
        method: false,
    },
    FunctionHelp {
        name: "peer",
        parameters: "(connection)",
        summary: "returns the verified certificate of the other side: subject, issuer, subject_alt_names, serial, not_after, fingerprints",
        details: "Returns () for a client that a listener with require_client_certificates: false let in\n\
                  without a certificate.",
        example: "print(connection.peer().subject)",
        group: Group::Tls,
        method: false,
    },
    FunctionHelp {
        name: "close",
        parameters: "(connection)",
        summary: "sends the TLS close_notify alert and closes the connection; returns true if it was open",
        details: "",
        example: "connection.close()",
        group: Group::Tls,
        method: false,
    },
];

/// Finds the help of `name`.
pub fn find(name: &str) -> Option<&'static FunctionHelp> {
    FUNCTIONS.iter().find(|entry| entry.name == name)
}

/// Lists the functions that instances have as methods.
pub fn method_names() -> impl Iterator<Item = &'static str> {
    FUNCTIONS
        .iter()
        .filter(|entry| entry.method)
        .map(|entry| entry.name)
}

/// Formats the list of every function, grouped by role, one line each.
pub fn overview() -> String {
    let width = FUNCTIONS
        .iter()
        .map(|entry| entry.name.len())
        .max()
        .unwrap_or(0);
    let mut text = String::new();
    for group in [Group::Shell, Group::Server, Group::Client, Group::Tls] {
        text += &format!("{}:\n", group.title());
        for entry in FUNCTIONS.iter().filter(|entry| entry.group == group) {
            text += &format!("  {:width$}  {}\n", entry.name, entry.summary);
        }
        text.push('\n');
    }
    text += "The CA server and CA client functions, tls_listen, tls_connect and instance_dir are also\n";
    text +=
        "methods of instances, acting on that instance: let ca = instance(\"dir\"); ca.pending()\n";
    text += "accept, stop_listening, send, receive, peer and close are methods of listeners and\n";
    text += "connections: connection.send(\"hello\")\n";
    text += "help(\"name\") shows a function's parameters and an example.";
    text
}

/// Formats the help of one function.
pub fn describe(entry: &FunctionHelp) -> String {
    let mut text = format!("{}{}\n  {}\n", entry.name, entry.parameters, entry.summary);
    if !entry.details.is_empty() {
        text.push('\n');
        for line in entry.details.lines() {
            text += &format!("  {}\n", line.trim_start());
        }
    }
    if entry.method {
        let value = match entry.group {
            Group::Client | Group::Tls => "client",
            Group::Server => "ca",
            Group::Shell => "other",
        };
        text += &format!(
            "\n  Also a method of instances: {value}.{}{}\n",
            entry.name,
            entry.parameters.split(" or ").last().unwrap_or("()")
        );
    }
    text += &format!("\nexample:\n  {}", entry.example);
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique() {
        let mut names: Vec<&str> = FUNCTIONS.iter().map(|entry| entry.name).collect();
        names.sort_unstable();
        let count = names.len();
        names.dedup();
        assert_eq!(names.len(), count, "a function has two help entries");
    }

    #[test]
    fn every_entry_has_text() {
        for entry in FUNCTIONS {
            assert!(!entry.summary.is_empty(), "{} has no summary", entry.name);
            assert!(!entry.example.is_empty(), "{} has no example", entry.name);
            assert!(
                entry.parameters.starts_with('('),
                "{} parameters",
                entry.name
            );
        }
    }
}
