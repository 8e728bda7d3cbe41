// Test helpers unwrap like the tests they serve: a failure is a failed test.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};

use agenthost_node::inputs::{
    check_limits, parse_data_url, safe_file_name, save_files, upload_dir, validate_images,
    FileInput, InputError, InputLimits,
};
use agenthost_node::ErrorCode;
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;

const PNG_1X1: &str = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==";

fn data_url(mime: &str, bytes: &[u8]) -> String {
    format!("data:{mime};base64,{}", STANDARD.encode(bytes))
}

fn file(name: &str, bytes: &[u8]) -> FileInput {
    FileInput {
        name: name.to_owned(),
        data: data_url("application/octet-stream", bytes),
    }
}

/// A temp root with `<root>/data/uploads/sess-1` as the upload dir (not created).
fn setup() -> (tempfile::TempDir, PathBuf) {
    let root = tempfile::tempdir().unwrap();
    let dir = upload_dir(&root.path().join("data"), "sess-1").unwrap();
    (root, dir)
}

/// Every non-directory entry under `root` (symlinks not followed).
fn walk(root: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let entry = entry.unwrap();
            let meta = std::fs::symlink_metadata(entry.path()).unwrap();
            if meta.is_dir() {
                stack.push(entry.path());
            } else {
                out.push(entry.path());
            }
        }
    }
    out.sort();
    out
}

fn assert_all_inside(root: &Path, dir: &Path) {
    for p in walk(root) {
        assert_eq!(
            p.parent().unwrap(),
            dir,
            "{} written outside the upload dir",
            p.display()
        );
    }
}

// ---------------------------------------------------------------- saving

#[tokio::test]
async fn valid_files_are_saved_with_exact_bytes_inside_the_dir() {
    let (root, dir) = setup();
    let binary: Vec<u8> = (0..=255u8).cycle().take(100_000).collect();
    let files = vec![
        FileInput {
            name: "notes.txt".into(),
            data: data_url("text/plain", b"hello\nworld"),
        },
        FileInput {
            name: "blob.bin".into(),
            data: data_url("application/octet-stream", &binary),
        },
        FileInput {
            name: "empty.txt".into(),
            data: "data:text/plain;base64,".into(),
        },
        FileInput {
            name: "pct.txt".into(),
            data: "data:text/plain;charset=utf-8,a%20b%2Cc".into(),
        },
    ];
    let saved = save_files(&files, &dir, &InputLimits::default())
        .await
        .unwrap();
    assert_eq!(saved.len(), 4);
    let expect: [(&str, &[u8], &str); 4] = [
        ("notes.txt", b"hello\nworld", "text/plain"),
        ("blob.bin", &binary, "application/octet-stream"),
        ("empty.txt", b"", "text/plain"),
        ("pct.txt", b"a b,c", "text/plain"),
    ];
    for (s, (name, bytes, mime)) in saved.iter().zip(expect) {
        assert_eq!(s.name, name);
        assert_eq!(s.mime, mime);
        assert_eq!(s.size, bytes.len() as u64);
        assert!(s.path.is_absolute());
        assert_eq!(s.path.parent().unwrap(), dir);
        assert!(s.path.starts_with(root.path()));
        assert_eq!(std::fs::read(&s.path).unwrap(), bytes);
    }
    assert_all_inside(root.path(), &dir);
}

#[cfg(unix)]
#[tokio::test]
async fn created_dir_is_0700_and_files_0600() {
    use std::os::unix::fs::PermissionsExt;
    let (_root, dir) = setup();
    let saved = save_files(&[file("a.txt", b"x")], &dir, &InputLimits::default())
        .await
        .unwrap();
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&dir), 0o700);
    assert_eq!(mode(&saved[0].path), 0o600);
}

#[tokio::test]
async fn no_files_creates_nothing() {
    let (root, dir) = setup();
    let saved = save_files(&[], &dir, &InputLimits::default())
        .await
        .unwrap();
    assert!(saved.is_empty());
    assert!(!dir.exists());
    assert!(walk(root.path()).is_empty());
}

#[tokio::test]
async fn oversized_file_is_refused_before_decoding_and_nothing_is_written() {
    let (root, dir) = setup();
    // ~15 MB of base64 (decodes to 11.25 MB > 10 MiB). Its last four characters are not
    // base64 at all: if it were decoded, the error would be MalformedDataUrl. FileTooLarge
    // shows the size was judged from the length alone.
    let mut payload = "A".repeat(15_000_000 - 4);
    payload.push_str("!!!!");
    let big = FileInput {
        name: "big.bin".into(),
        data: format!("data:application/octet-stream;base64,{payload}"),
    };
    let small = file("small.txt", b"fine");

    for files in [vec![big.clone()], vec![small.clone(), big.clone()]] {
        let err = save_files(&files, &dir, &InputLimits::default())
            .await
            .unwrap_err();
        match &err {
            InputError::FileTooLarge { name, size, max } => {
                assert!(name.contains("big.bin"), "{name}");
                assert_eq!(*size, 11_250_000);
                assert_eq!(*max, 10 * 1024 * 1024);
            }
            other => panic!("expected FileTooLarge, got {other:?}"),
        }
        assert_eq!(ErrorCode::from(&err), ErrorCode::TooLarge);
        assert!(err.to_string().contains("big.bin"), "{err}");
        assert!(!dir.exists(), "the upload dir must not even be created");
        assert!(walk(root.path()).is_empty(), "nothing may be written");
    }

    // The same through check_limits and parse_data_url.
    let err = check_limits(&[], &[small, big.clone()], &InputLimits::default()).unwrap_err();
    assert!(matches!(err, InputError::FileTooLarge { .. }));
    let err = parse_data_url(&big.data, 10 * 1024 * 1024).unwrap_err();
    assert!(matches!(err, InputError::FileTooLarge { .. }), "{err:?}");
}

#[tokio::test]
async fn size_limit_is_exact_in_decoded_bytes() {
    let (_root, dir) = setup();
    let limits = InputLimits {
        max_file_size_bytes: 10,
        max_files_per_request: 10,
    };
    // 10 bytes, with and without padding, ok; 11 refused.
    let ten = file("ten.bin", &[7u8; 10]);
    let ten_unpadded = FileInput {
        name: "ten2.bin".into(),
        data: ten.data.trim_end_matches('=').to_owned(),
    };
    let saved = save_files(&[ten, ten_unpadded], &dir, &limits)
        .await
        .unwrap();
    assert!(saved.iter().all(|s| s.size == 10));
    let err = save_files(&[file("eleven.bin", &[7u8; 11])], &dir, &limits)
        .await
        .unwrap_err();
    assert!(matches!(
        err,
        InputError::FileTooLarge {
            size: 11,
            max: 10,
            ..
        }
    ));
    // Padding cannot hide length: a payload of only '=' is malformed, not "0 bytes".
    assert!(matches!(
        parse_data_url("data:;base64,==========", 10),
        Err(InputError::MalformedDataUrl { .. })
    ));
    // Percent-encoded size counts %XX as one byte.
    assert_eq!(
        parse_data_url("data:,%41%42%43%44%45%46%47%48%49%4A", 10)
            .unwrap()
            .bytes,
        b"ABCDEFGHIJ"
    );
    assert!(matches!(
        parse_data_url("data:,%41%42%43%44%45%46%47%48%49%4Ax", 10),
        Err(InputError::FileTooLarge { size: 11, .. })
    ));
}

#[tokio::test]
async fn too_many_files_are_refused_before_anything_is_written() {
    let (root, dir) = setup();
    let files: Vec<FileInput> = (0..11).map(|i| file(&format!("f{i}.txt"), b"x")).collect();
    let err = save_files(&files, &dir, &InputLimits::default())
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            InputError::TooManyFiles {
                field: "files",
                count: 11,
                max: 10
            }
        ),
        "{err:?}"
    );
    assert_eq!(ErrorCode::from(&err), ErrorCode::TooLarge);
    assert!(err.to_string().contains("too many files"), "{err}");
    assert!(walk(root.path()).is_empty());

    // Counts come before sizes and before parsing: 11 garbage entries → TooManyFiles.
    let garbage: Vec<FileInput> = (0..11)
        .map(|_| FileInput {
            name: "..".into(),
            data: "nonsense".into(),
        })
        .collect();
    assert!(matches!(
        check_limits(&[], &garbage, &InputLimits::default()),
        Err(InputError::TooManyFiles { .. })
    ));

    // Exactly the limit is fine; images and files are counted separately.
    let images: Vec<String> = (0..10)
        .map(|_| format!("data:image/png;base64,{PNG_1X1}"))
        .collect();
    check_limits(&images, &files[..10], &InputLimits::default()).unwrap();
    let saved = save_files(&files[..10], &dir, &InputLimits::default())
        .await
        .unwrap();
    assert_eq!(saved.len(), 10);

    // A zero limit forbids files altogether.
    let none = InputLimits::from_mb(10.0, 0);
    assert!(matches!(
        save_files(&files[..1], &dir, &none).await,
        Err(InputError::TooManyFiles {
            count: 1,
            max: 0,
            ..
        })
    ));
}

#[tokio::test]
async fn malformed_data_urls_are_refused() {
    let (root, dir) = setup();
    let cases = [
        ("no comma", "data:text/plain;base64SGVsbG8="),
        ("bad base64", "data:text/plain;base64,SGV*bG8h"),
        (
            "bad base64 padding inside",
            "data:text/plain;base64,SG=sbG8h",
        ),
        ("impossible base64 length", "data:text/plain;base64,SGVsb"),
        ("missing data: prefix", "text/plain;base64,SGVsbG8="),
        ("raw base64", "SGVsbG8="),
        ("wrong prefix http", "http://example.com/x.png"),
        ("wrong prefix date:", "date:text/plain;base64,SGVsbG8="),
        ("bad media type", "data:text;base64,SGVsbG8="),
        (
            "base64 not last",
            "data:text/plain;base64;charset=utf-8,SGVsbG8=",
        ),
        ("bad percent escape", "data:text/plain,100%"),
        ("bad percent escape hex", "data:text/plain,%zz"),
        ("empty", ""),
    ];
    for (label, url) in cases {
        let err = parse_data_url(url, 1024).unwrap_err();
        assert!(
            matches!(err, InputError::MalformedDataUrl { .. }),
            "{label}: {err:?}"
        );
        assert_eq!(ErrorCode::from(&err), ErrorCode::BadRequest, "{label}");

        let files = [
            file("ok.txt", b"fine"),
            FileInput {
                name: "bad.txt".into(),
                data: url.into(),
            },
        ];
        let err = save_files(&files, &dir, &InputLimits::default())
            .await
            .unwrap_err();
        match &err {
            InputError::MalformedDataUrl { what, .. } => {
                assert!(
                    what.contains("files[1]") && what.contains("bad.txt"),
                    "{label}: {what}"
                )
            }
            other => panic!("{label}: expected MalformedDataUrl, got {other:?}"),
        }
        assert!(err.to_string().contains("bad.txt"), "{err}");
        // Whatever this call wrote (ok.txt, possibly the dir) was removed again.
        assert!(
            walk(root.path()).is_empty(),
            "{label}: leftovers {:?}",
            walk(root.path())
        );
        assert!(
            !dir.exists(),
            "{label}: the dir this call created is removed"
        );
    }
}

#[tokio::test]
async fn rollback_keeps_files_of_earlier_requests() {
    let (_root, dir) = setup();
    let first = save_files(
        &[file("keep.txt", b"earlier")],
        &dir,
        &InputLimits::default(),
    )
    .await
    .unwrap();
    let files = [
        file("new.txt", b"now"),
        FileInput {
            name: "broken.txt".into(),
            data: "data:text/plain;base64,@@@@".into(),
        },
    ];
    assert!(save_files(&files, &dir, &InputLimits::default())
        .await
        .is_err());
    assert_eq!(std::fs::read(&first[0].path).unwrap(), b"earlier");
    assert!(!dir.join("new.txt").exists());
    assert_eq!(walk(&dir), vec![first[0].path.clone()]);
}

#[test]
fn parse_data_url_forms() {
    let d = parse_data_url(&format!("data:image/PNG;base64,{PNG_1X1}"), 1 << 20).unwrap();
    assert_eq!(d.mime, "image/png");
    assert_eq!(d.bytes, STANDARD.decode(PNG_1X1).unwrap());
    // Scheme in any case, parameters dropped, whitespace in base64 ignored, no padding.
    let d = parse_data_url(" DATA:text/plain;charset=UTF-8;BASE64,SGVs\r\nbG8 ", 100).unwrap();
    assert_eq!(
        (d.mime.as_str(), d.bytes.as_slice()),
        ("text/plain", &b"Hello"[..])
    );
    // Default media type; percent-encoded payload with raw UTF-8.
    let d = parse_data_url("data:,h%C3%A9llo%20w%F0%9F%98%80rld é", 100).unwrap();
    assert_eq!(d.mime, "text/plain");
    assert_eq!(String::from_utf8(d.bytes).unwrap(), "héllo w😀rld é");
    let d = parse_data_url("data:;base64,", 0).unwrap();
    assert!(d.bytes.is_empty());
}

// ---------------------------------------------------------------- names

#[tokio::test]
async fn hostile_names_are_sanitized_or_refused_and_never_escape_the_dir() {
    let (root, dir) = setup();
    let long_stem = "x".repeat(400);
    let long_unicode = "é".repeat(300); // 600 bytes
    let cases: Vec<(String, Option<&str>)> = vec![
        ("../etc/passwd".into(), Some("passwd")),
        ("/abs/path".into(), Some("path")),
        ("a/../../b".into(), Some("b")),
        ("..".into(), None),
        ("...".into(), None),
        (".".into(), None),
        ("".into(), None),
        ("   ".into(), None),
        ("dir/".into(), None),
        ("../..".into(), None),
        (".hidden".into(), Some("_.hidden")),
        ("../.bashrc".into(), Some("_.bashrc")),
        ("a\0b.txt".into(), None),
        ("a\nb.txt".into(), None),
        ("tab\there".into(), None),
        ("..\\x".into(), Some("x")),
        ("C:\\Windows\\System32\\evil.dll".into(), Some("evil.dll")),
        ("C:evil.txt".into(), Some("C_evil.txt")),
        ("a<b>c:d\"e|f?g*h.txt".into(), Some("a_b_c_d_e_f_g_h.txt")),
        ("-rf".into(), Some("_-rf")),
        ("CON.txt".into(), Some("_CON.txt")),
        ("evil\u{202E}txt.exe".into(), Some("evil_txt.exe")),
        ("  spaced name.txt  ".into(), Some("spaced name.txt")),
        (format!("{long_stem}.txt"), None), // checked below
        (long_unicode.clone(), None),       // checked below
    ];
    for (name, expected) in &cases {
        let input = [FileInput {
            name: name.clone(),
            data: data_url("text/plain", b"payload"),
        }];
        let result = save_files(&input, &dir, &InputLimits::default()).await;
        match (result, expected) {
            (Ok(saved), _) => {
                let s = &saved[0];
                assert_eq!(s.path.parent().unwrap(), dir, "{name:?}");
                assert_eq!(s.path.file_name().unwrap().to_str().unwrap(), s.name);
                assert!(!s.name.starts_with('.'), "{name:?} → hidden {:?}", s.name);
                assert!(
                    !s.name.contains(['/', '\\', '\0']),
                    "{name:?} → {:?}",
                    s.name
                );
                assert!(s.name.len() <= 255, "{name:?} → {} bytes", s.name.len());
                assert_eq!(std::fs::read(&s.path).unwrap(), b"payload");
                if let Some(exp) = expected {
                    assert_eq!(&s.name, exp, "{name:?}");
                }
                std::fs::remove_file(&s.path).unwrap();
            }
            (Err(e), None) => {
                assert!(
                    matches!(e, InputError::BadFileName { .. }),
                    "{name:?}: {e:?}"
                );
                assert_eq!(ErrorCode::from(&e), ErrorCode::BadRequest);
            }
            (Err(e), Some(exp)) => panic!("{name:?} should become {exp:?}, got {e}"),
        }
        // Each name on its own and in the same function as safe_file_name agree.
        if let Some(exp) = expected {
            assert_eq!(safe_file_name(name).unwrap(), *exp);
        }
        assert_all_inside(root.path(), &dir);
    }
    // Refusals that must not be sanitized.
    for name in ["..", "...", ".", "", "a\0b.txt", "a\nb.txt", "dir/"] {
        assert!(
            matches!(safe_file_name(name), Err(InputError::BadFileName { .. })),
            "{name:?}"
        );
    }
    // Long names: cut to 255 bytes on a char boundary, extension kept.
    let cut = safe_file_name(&format!("{long_stem}.txt")).unwrap();
    assert_eq!(cut.len(), 255);
    assert!(cut.ends_with(".txt") && cut.starts_with("xxx"));
    let cut = safe_file_name(&long_unicode).unwrap();
    assert!(cut.len() <= 255 && cut.len() >= 254, "{}", cut.len());
    assert!(cut.chars().all(|c| c == 'é'));
    let cut = safe_file_name(&format!("{}.tar.gz", "ü".repeat(200))).unwrap();
    assert!(cut.len() <= 255 && cut.ends_with(".gz"));
    // Error messages name the file, escaped and shortened.
    let err = safe_file_name("a\nb").unwrap_err();
    assert!(err.to_string().contains("\"a\\nb\""), "{err}");
    let err = safe_file_name(&format!("{}\0", "y".repeat(10_000))).unwrap_err();
    assert!(err.to_string().len() < 300, "{err}");
    assert_all_inside(root.path(), &dir);
}

#[tokio::test]
async fn unicode_names_keep_their_unicode() {
    let (_root, dir) = setup();
    let names = [
        "报告 2024.pdf",
        "résumé.docx",
        "😀.png",
        "Ωμέγα",
        "файл.txt",
    ];
    let files: Vec<FileInput> = names.iter().map(|n| file(n, n.as_bytes())).collect();
    let saved = save_files(&files, &dir, &InputLimits::default())
        .await
        .unwrap();
    for (s, n) in saved.iter().zip(names) {
        assert_eq!(s.name, n);
        assert_eq!(s.path, dir.join(n));
        assert_eq!(std::fs::read(&s.path).unwrap(), n.as_bytes());
    }
}

#[tokio::test]
async fn duplicate_names_get_unique_names() {
    let (_root, dir) = setup();
    let files = [
        file("a.txt", b"one"),
        file("a.txt", b"two"),
        file("sub/a.txt", b"three"),
        file("A.TXT", b"four"),
        file("noext", b"five"),
        file("noext", b"six"),
    ];
    let saved = save_files(&files, &dir, &InputLimits::default())
        .await
        .unwrap();
    let names: Vec<&str> = saved.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "a.txt",
            "a (2).txt",
            "a (3).txt",
            "A (4).TXT",
            "noext",
            "noext (2)"
        ]
    );
    for (s, bytes) in saved
        .iter()
        .zip([&b"one"[..], b"two", b"three", b"four", b"five", b"six"])
    {
        assert_eq!(std::fs::read(&s.path).unwrap(), bytes);
    }

    // A later request never overwrites: the existing a.txt stays, the new one is numbered.
    let again = save_files(&[file("a.txt", b"later")], &dir, &InputLimits::default())
        .await
        .unwrap();
    // (a (4).txt on a case-sensitive file system, a (5).txt where A (4).TXT is the same file)
    assert!(again[0].name.starts_with("a (") && again[0].name.ends_with(").txt"));
    assert_eq!(std::fs::read(&again[0].path).unwrap(), b"later");
    assert_eq!(std::fs::read(dir.join("a.txt")).unwrap(), b"one");

    // Numbering still fits 255 bytes.
    let long = format!("{}.txt", "z".repeat(300));
    let saved = save_files(
        &[file(&long, b"1"), file(&long, b"2")],
        &dir,
        &InputLimits::default(),
    )
    .await
    .unwrap();
    assert_eq!(saved[0].name.len(), 255);
    assert_eq!(saved[1].name.len(), 255);
    assert!(saved[1].name.ends_with(" (2).txt"), "{}", saved[1].name);
}

#[cfg(unix)]
#[tokio::test]
async fn preexisting_symlink_is_not_followed() {
    let (root, dir) = setup();
    std::fs::create_dir_all(&dir).unwrap();
    let outside = root.path().join("outside");
    std::fs::create_dir(&outside).unwrap();
    let victim = outside.join("victim.txt");
    std::fs::write(&victim, b"original").unwrap();
    let dangling = outside.join("not-there.txt");
    std::os::unix::fs::symlink(&victim, dir.join("a.txt")).unwrap();
    std::os::unix::fs::symlink(&dangling, dir.join("b.txt")).unwrap();

    let saved = save_files(
        &[file("a.txt", b"attacker"), file("b.txt", b"attacker")],
        &dir,
        &InputLimits::default(),
    )
    .await
    .unwrap();
    assert_eq!(saved[0].name, "a (2).txt");
    assert_eq!(saved[1].name, "b (2).txt");
    assert_eq!(std::fs::read(&victim).unwrap(), b"original");
    assert!(!dangling.exists(), "a dangling symlink was followed");
    for s in &saved {
        let meta = std::fs::symlink_metadata(&s.path).unwrap();
        assert!(meta.is_file());
        assert_eq!(std::fs::read(&s.path).unwrap(), b"attacker");
    }
    // The symlinks themselves are untouched.
    assert_eq!(std::fs::read_link(dir.join("a.txt")).unwrap(), victim);

    // An upload dir that is itself a symlink is refused.
    let linked = root.path().join("data").join("uploads").join("linked");
    std::os::unix::fs::symlink(&outside, &linked).unwrap();
    let err = save_files(&[file("x.txt", b"x")], &linked, &InputLimits::default())
        .await
        .unwrap_err();
    assert!(matches!(err, InputError::Io { .. }), "{err:?}");
    assert_eq!(ErrorCode::from(&err), ErrorCode::Internal);
    assert!(!outside.join("x.txt").exists());
}

// ---------------------------------------------------------------- session ids

#[test]
fn session_ids() {
    let data = Path::new("/srv/agent/.agenthost");
    for id in [
        "abc",
        "sess-1",
        "A_b-C",
        "550e8400-e29b-41d4-a716-446655440000",
        &"x".repeat(128),
    ] {
        assert_eq!(upload_dir(data, id).unwrap(), data.join("uploads").join(id));
    }
    for id in [
        "",
        "..",
        ".",
        "../x",
        "a/b",
        "a\\b",
        "/etc",
        "a b",
        "a.b",
        "a\0b",
        "é",
        "sess\n",
        &"x".repeat(129),
    ] {
        let err = upload_dir(data, id).unwrap_err();
        assert!(matches!(err, InputError::BadSessionId { .. }), "{id:?}");
        assert_eq!(ErrorCode::from(&err), ErrorCode::BadRequest);
    }
}

// ---------------------------------------------------------------- images

#[test]
fn images() {
    let limits = InputLimits::default();
    let png = format!("data:image/png;base64,{PNG_1X1}");
    validate_images(&[png.clone(), png.clone()], &limits).unwrap();
    validate_images(&[], &limits).unwrap();

    let text = data_url("text/plain", b"not an image");
    let err = validate_images(&[png.clone(), text], &limits).unwrap_err();
    match &err {
        InputError::NotAnImage { what, mime } => {
            assert_eq!(what, "images[1]");
            assert_eq!(mime, "text/plain");
        }
        other => panic!("expected NotAnImage, got {other:?}"),
    }
    assert_eq!(ErrorCode::from(&err), ErrorCode::BadRequest);
    assert!(err.to_string().contains("images[1]"), "{err}");

    // Oversized: judged from the length (the payload is not even valid base64).
    let big = format!("data:image/png;base64,{}!!!!", "A".repeat(15_000_000 - 4));
    let err = validate_images(&[big], &limits).unwrap_err();
    assert!(
        matches!(&err, InputError::FileTooLarge { name, .. } if name == "images[0]"),
        "{err:?}"
    );
    assert_eq!(ErrorCode::from(&err), ErrorCode::TooLarge);

    // Too many.
    let many = vec![png.clone(); 11];
    assert!(matches!(
        validate_images(&many, &limits),
        Err(InputError::TooManyFiles {
            field: "images",
            count: 11,
            max: 10
        })
    ));

    // Malformed ones.
    for bad in [
        "data:image/png;base64,!!!!",
        "image/png;base64,AAAA",
        "data:image/png;base64",
        "data:image/svg+xml,%3Csvg%3E",
        "data:image/png;base64,",
    ] {
        assert!(
            matches!(
                validate_images(&[bad.to_owned()], &limits),
                Err(InputError::MalformedDataUrl { .. })
            ),
            "{bad}"
        );
    }
}

// ---------------------------------------------------------------- limits and errors

#[test]
fn limits() {
    assert_eq!(
        InputLimits::default(),
        InputLimits {
            max_file_size_bytes: 10 * 1024 * 1024,
            max_files_per_request: 10
        }
    );
    assert_eq!(InputLimits::from_mb(10.0, 10), InputLimits::default());
    assert_eq!(InputLimits::from_mb(0.5, 3).max_file_size_bytes, 512 * 1024);
    assert_eq!(InputLimits::from_mb(-1.0, 3).max_file_size_bytes, 0);
    assert_eq!(InputLimits::from_mb(f64::NAN, 3).max_file_size_bytes, 0);
    assert_eq!(
        InputLimits::from_mb(f64::INFINITY, 3).max_file_size_bytes,
        usize::MAX
    );

    // 2 * files * base64(max) + 1 MiB.
    let d = InputLimits::default();
    assert_eq!(d.max_request_bytes(), 20 * 13_981_016 + 1_048_576);
    let l = InputLimits {
        max_file_size_bytes: 10,
        max_files_per_request: 1,
    };
    assert_eq!(l.max_request_bytes(), 2 * 16 + 1_048_576);
    assert_eq!(
        InputLimits::from_mb(f64::INFINITY, 10).max_request_bytes(),
        usize::MAX
    );

    // A request at the limits fits within max_request_bytes.
    let l = InputLimits::from_mb(0.25, 3);
    let f: Vec<FileInput> = (0..3)
        .map(|i| file(&format!("{i}.bin"), &vec![0u8; l.max_file_size_bytes]))
        .collect();
    let imgs: Vec<String> = (0..3)
        .map(|_| data_url("image/png", &vec![0u8; l.max_file_size_bytes]))
        .collect();
    check_limits(&imgs, &f, &l).unwrap();
    let body = serde_json::json!({"prompt": "hi", "images": imgs, "files": f}).to_string();
    assert!(body.len() <= l.max_request_bytes());
}

#[test]
fn file_input_wire_shape() {
    let f: FileInput =
        serde_json::from_str(r#"{"name":"a.txt","data":"data:,hi","size":2}"#).unwrap();
    assert_eq!(
        f,
        FileInput {
            name: "a.txt".into(),
            data: "data:,hi".into()
        }
    );
    assert_eq!(
        serde_json::to_value(&f).unwrap(),
        serde_json::json!({"name": "a.txt", "data": "data:,hi"})
    );
}

#[test]
fn error_codes_and_statuses() {
    let io = InputError::Io {
        what: "x".into(),
        source: std::io::Error::other("boom"),
    };
    assert_eq!(ErrorCode::from(&io), ErrorCode::Internal);
    assert_eq!(io.code(), "io_error");
    let e = InputError::FileTooLarge {
        name: "files[0] \"a\"".into(),
        size: 15 * 1024 * 1024,
        max: 10 * 1024 * 1024,
    };
    assert_eq!(e.code(), "file_too_large");
    assert_eq!(
        e.to_string(),
        "files[0] \"a\" is too large: 15728640 bytes (15.0 MB) exceeds the limit of 10485760 bytes (10.0 MB)"
    );
}
