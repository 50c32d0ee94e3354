//! Archived audit logs, as records for a backtest (`warden replay
//! --from-file`, `warden policy diff --events`).
//!
//! Accepted inputs, by content (not by name):
//! * NDJSON: one audit event per line (Firehose's S3 objects);
//! * gzipped NDJSON, concatenated gzip members included (Firehose with
//!   compression);
//! * a Lambda Kinesis event (`{"Records": [{"kinesis": {"data": base64}}]}`,
//!   as `events/kinesis-audit-batch.json`): each record's data as the
//!   function would see it (itself possibly gzip or NDJSON);
//! * a directory of these, walked recursively in name order.
//!
//! Each line (or Kinesis record) becomes one [`ArchiveRecord`] whose id names
//! the file and line, so every planned action can be traced to its input.
//! Reading stops with an error naming the file (and line) on anything that is
//! not one of the above; nothing is skipped silently.

use std::io::Read;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context as _};
use base64::Engine as _;

/// Inflated bytes one archive file may hold (a guard against decompression
/// bombs; a Firehose object is at most a few hundred MiB).
pub const MAX_FILE_BYTES: u64 = 1024 * 1024 * 1024;

/// One record to decode: an event (NDJSON line) or a Kinesis record's data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArchiveRecord {
    /// `file:line` or `file#record-index`.
    pub id: String,
    /// The bytes, as the decoder takes them.
    pub data: Vec<u8>,
}

/// Every file under `paths` (files as given, directories walked in name
/// order), in that order.
pub fn files(paths: &[PathBuf]) -> anyhow::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for p in paths {
        walk(p, &mut out)?;
    }
    if out.is_empty() {
        bail!("no archive files found in {}", show(paths));
    }
    Ok(out)
}

fn show(paths: &[PathBuf]) -> String {
    paths
        .iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

fn walk(p: &Path, out: &mut Vec<PathBuf>) -> anyhow::Result<()> {
    let meta = std::fs::metadata(p).with_context(|| format!("{}", p.display()))?;
    if meta.is_file() {
        out.push(p.to_path_buf());
        return Ok(());
    }
    let mut entries: Vec<PathBuf> = std::fs::read_dir(p)
        .with_context(|| format!("{}", p.display()))?
        .map(|e| e.map(|e| e.path()))
        .collect::<Result<_, _>>()
        .with_context(|| format!("{}", p.display()))?;
    entries.sort();
    for e in entries {
        // Hidden files (editor swap files, .DS_Store) are not archives.
        if e.file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.starts_with('.'))
        {
            continue;
        }
        walk(&e, out)?;
    }
    Ok(())
}

/// Reads one file into records, whatever its kind.
pub fn read_file(path: &Path) -> anyhow::Result<Vec<ArchiveRecord>> {
    let name = path.display().to_string();
    let raw = std::fs::read(path).with_context(|| name.clone())?;
    let bytes = if raw.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::new();
        flate2::read::MultiGzDecoder::new(raw.as_slice())
            .take(MAX_FILE_BYTES + 1)
            .read_to_end(&mut out)
            .with_context(|| format!("{name}: gzip data does not inflate"))?;
        if out.len() as u64 > MAX_FILE_BYTES {
            bail!("{name}: inflates to more than {MAX_FILE_BYTES} bytes");
        }
        out
    } else {
        raw
    };
    if let Some(records) = kinesis_event(&bytes, &name)? {
        return Ok(records);
    }
    let mut out = Vec::new();
    for (i, line) in bytes.split(|b| *b == b'\n').enumerate() {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        out.push(ArchiveRecord {
            id: format!("{name}:{}", i + 1),
            data: line.to_vec(),
        });
    }
    Ok(out)
}

/// A Lambda Kinesis event's records, if `bytes` is one.
fn kinesis_event(bytes: &[u8], name: &str) -> anyhow::Result<Option<Vec<ArchiveRecord>>> {
    let start = bytes.iter().position(|b| !b.is_ascii_whitespace());
    if start.is_none_or(|s| bytes[s] != b'{') {
        return Ok(None);
    }
    // One JSON document with a "Records" array: a Lambda event. Anything
    // else (several documents: NDJSON) is read line by line.
    let Ok(doc) = serde_json::from_slice::<serde_json::Value>(bytes) else {
        return Ok(None);
    };
    let Some(records) = doc.get("Records").and_then(|r| r.as_array()) else {
        return Ok(None);
    };
    let b64 = base64::engine::general_purpose::STANDARD;
    records
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let data = r["kinesis"]["data"].as_str().with_context(|| {
                format!("{name}: Records[{i}].kinesis.data is missing or not a string")
            })?;
            let data = b64
                .decode(data)
                .with_context(|| format!("{name}: Records[{i}].kinesis.data is not base64"))?;
            let seq = r["kinesis"]["sequenceNumber"].as_str().unwrap_or_default();
            Ok(ArchiveRecord {
                id: if seq.is_empty() {
                    format!("{name}#{}", i + 1)
                } else {
                    format!("{name}#{seq}")
                },
                data,
            })
        })
        .collect::<anyhow::Result<Vec<_>>>()
        .map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn scratch(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("warden-archive-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    fn gz(text: &str) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(text.as_bytes()).unwrap();
        e.finish().unwrap()
    }

    #[test]
    fn ndjson_gzip_members_kinesis_events_and_directories() {
        let d = scratch("kinds");
        std::fs::write(d.join("b.ndjson"), "{\"a\":1}\n\n{\"a\":2}\r\n").unwrap();
        // Two gzip members back to back, as Firehose appends them.
        let mut two = gz("{\"m\":1}\n");
        two.extend(gz("{\"m\":2}\n{\"m\":3}\n"));
        std::fs::create_dir_all(d.join("c")).unwrap();
        std::fs::write(d.join("c/part-0001.gz"), two).unwrap();
        let data = base64::engine::general_purpose::STANDARD.encode("{\"k\":1}");
        std::fs::write(
            d.join("a.json"),
            format!(
                "{{\"Records\":[{{\"kinesis\":{{\"data\":\"{data}\",\"sequenceNumber\":\"49\"}}}}]}}"
            ),
        )
        .unwrap();
        std::fs::write(d.join(".swp"), "not an archive").unwrap();

        let files = files(std::slice::from_ref(&d)).unwrap();
        let names: Vec<_> = files
            .iter()
            .map(|f| f.strip_prefix(&d).unwrap().display().to_string())
            .collect();
        assert_eq!(names, ["a.json", "b.ndjson", "c/part-0001.gz"]);
        let all: Vec<ArchiveRecord> = files.iter().flat_map(|f| read_file(f).unwrap()).collect();
        let data: Vec<&str> = all
            .iter()
            .map(|r| std::str::from_utf8(&r.data).unwrap())
            .collect();
        assert_eq!(
            data,
            [
                "{\"k\":1}",
                "{\"a\":1}",
                "{\"a\":2}",
                "{\"m\":1}",
                "{\"m\":2}",
                "{\"m\":3}"
            ]
        );
        assert!(all[0].id.ends_with("a.json#49"), "{}", all[0].id);
        assert!(all[2].id.ends_with("b.ndjson:3"), "{}", all[2].id);
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn errors_name_the_file_and_what_is_wrong() {
        let d = scratch("errors");
        std::fs::write(d.join("bad.gz"), [0x1f, 0x8b, 0, 1, 2, 3]).unwrap();
        let e = format!("{:#}", read_file(&d.join("bad.gz")).unwrap_err());
        assert!(
            e.contains("bad.gz") && e.contains("does not inflate"),
            "{e}"
        );
        std::fs::write(
            d.join("ev.json"),
            r#"{"Records":[{"kinesis":{"data":"%%%"}}]}"#,
        )
        .unwrap();
        let e = format!("{:#}", read_file(&d.join("ev.json")).unwrap_err());
        assert!(e.contains("Records[0].kinesis.data is not base64"), "{e}");
        let e = format!("{:#}", files(&[d.join("missing")]).unwrap_err());
        assert!(e.contains("missing"), "{e}");
        let empty = d.join("empty");
        std::fs::create_dir_all(&empty).unwrap();
        let e = format!("{:#}", files(&[empty]).unwrap_err());
        assert!(e.contains("no archive files"), "{e}");
        let _ = std::fs::remove_dir_all(&d);
    }
}
