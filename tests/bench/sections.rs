//! BENCHMARKS.md is written by several steps (this harness's main run, `--live`, the fault
//! suite's script) and holds hand-written sections too: each step replaces only the block
//! between its own markers and leaves the rest of the file as it is.

/// Where a block goes the first time, when the file has no markers for it yet.
pub enum Placement {
    /// At the top: the main run's block carries the page title.
    Top,
    /// At the end.
    Bottom,
}

/// Replaces the block `name` (between `<!-- name:start -->` and `<!-- name:end -->`) with
/// `content`, or adds it at `placement`.
pub fn replace(path: &str, name: &str, content: &str, placement: Placement) {
    let current = std::fs::read_to_string(path).unwrap_or_default();
    std::fs::write(path, replaced(&current, name, content, placement)).expect("write report");
}

fn replaced(current: &str, name: &str, content: &str, placement: Placement) -> String {
    let start = format!("<!-- {name}:start -->");
    let end = format!("<!-- {name}:end -->");
    let block = format!(
        "{start}\n{}\n{end}\n",
        content.trim_start_matches('\n').trim_end()
    );
    match (current.find(&start), current.find(&end)) {
        (Some(a), Some(b)) if a < b => {
            let after = current[b + end.len()..].trim_start_matches('\n');
            let gap = if after.is_empty() { "" } else { "\n" };
            format!("{}{block}{gap}{after}", &current[..a])
        }
        _ => match placement {
            Placement::Top => format!("{block}\n{}", current.trim_start()),
            Placement::Bottom => format!("{}\n\n{block}", current.trim_end()),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_named_block_changes() {
        let file = "<!-- a:start -->\nold\n<!-- a:end -->\n\n## Hand-written\n\ntext\n";
        let next = replaced(file, "a", "new\n", Placement::Top);
        assert_eq!(
            next,
            "<!-- a:start -->\nnew\n<!-- a:end -->\n\n## Hand-written\n\ntext\n"
        );
        let added = replaced(&next, "b", "b body", Placement::Bottom);
        assert!(added.starts_with(&next.trim_end().to_string()));
        assert!(added.ends_with("<!-- b:start -->\nb body\n<!-- b:end -->\n"));
    }
}
