//! The classifier on verbatim errors of the real containerd 1.6 in the lab
//! (tests/data/classify/containerd-1.6-lab.tsv), as they are and in every wrapping the
//! kubelet and kubectl put around them.

use acr_chaos::classify::{Cause, classify};

const DATA: &str = include_str!("../data/classify/containerd-1.6-lab.tsv");
const FILE: &str = "tests/data/classify/containerd-1.6-lab.tsv";
const NOT_FOUND: &str = "rpc error: code = NotFound desc = failed to pull and unpack image \"acrchaoslab.azurecr.io/probe/hello:nope\": failed to resolve reference \"acrchaoslab.azurecr.io/probe/hello:nope\": acrchaoslab.azurecr.io/probe/hello:nope: not found";

struct Row {
    line: usize,
    name: &'static str,
    expected: Vec<Cause>,
    text: &'static str,
}

fn rows() -> Vec<Row> {
    let mut out = Vec::new();
    for (i, raw) in DATA.lines().enumerate() {
        let line = i + 1;
        if raw.trim().is_empty() || raw.starts_with('#') {
            continue;
        }
        let mut cols = raw.splitn(3, '\t');
        let (Some(causes), Some(name), Some(text)) = (cols.next(), cols.next(), cols.next()) else {
            panic!("{FILE}:{line}: expected `causes<TAB>name<TAB>text`, got {raw:?}");
        };
        let expected = if causes == "-" {
            Vec::new()
        } else {
            causes
                .split(',')
                .map(|id| id.parse::<Cause>().unwrap_or_else(|e| panic!("{FILE}:{line}: {e}")))
                .collect()
        };
        out.push(Row { line, name, expected, text });
    }
    out
}

/// The image reference the error names (its first quoted string).
fn image_of(text: &str) -> &str {
    text.split('"').nth(1).unwrap_or("acrchaoslab.azurecr.io/probe/hello:v1")
}

fn check(row: &Row, form: &str, message: &str, expected: &[Cause]) {
    assert_eq!(
        classify(message),
        expected,
        "{FILE}:{} ({}), {form}:\n{message}",
        row.line,
        row.name
    );
}

#[test]
fn captured_texts_are_plentiful_and_varied() {
    let rows = rows();
    assert!(rows.len() >= 25, "{} rows", rows.len());
    let causes: std::collections::BTreeSet<Cause> =
        rows.iter().flat_map(|r| r.expected.iter().copied()).collect();
    assert!(causes.len() >= 10, "{causes:?}");
}

#[test]
fn captured_texts_classify_in_every_wrapping() {
    for row in rows() {
        let exp = &row.expected;
        let img = image_of(row.text);
        check(&row, "runtime text", row.text, exp);

        let event = format!("Failed to pull image \"{img}\": {}", row.text);
        check(&row, "kubelet event", &event, exp);

        if let Some(stripped) = row.text.strip_prefix("rpc error: code = Unknown desc = ") {
            let event = format!("Failed to pull image \"{img}\": {stripped}");
            check(&row, "kubelet >= 1.28 (Unknown prefix stripped)", &event, exp);
        }

        let describe =
            format!("  Warning  Failed     3s (x2 over 20s)  kubelet            {event}");
        check(&row, "kubectl describe row", &describe, exp);

        let get = format!("12s         Warning   Failed              pod/probe-x7k2   {event}");
        check(&row, "kubectl get events row", &get, exp);

        let klog = format!(
            "E1124 10:00:00.000000    1234 kuberuntime_image.go:55] \"Failed to pull image\" err=\"{}\" image=\"{img}\"",
            row.text.replace('"', "\\\"")
        );
        check(&row, "klog line", &klog, exp);

        let waiting = format!("Back-off pulling image \"{img}\": ErrImagePull: {}", row.text);
        check(&row, "kubelet >= 1.32 waiting message", &waiting, exp);

        // In a kubelet aggregate after a not-found attempt: both, in order.
        let mut both = vec![Cause::NotFound];
        both.extend(exp.iter().copied().filter(|c| *c != Cause::NotFound));
        let aggregate = format!("Failed to pull image \"{img}\": [{NOT_FOUND}, {}]", row.text);
        check(&row, "kubelet aggregate", &aggregate, &both);
    }
}
