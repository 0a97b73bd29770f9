//! Hostile YAML against the tree's limits (`core/src/yaml.rs`): documents nested deeper
//! than [`MAX_DEPTH`] in every combination of block and flow lists and mappings, wide
//! mappings and lists, chains of aliases up to bombs, random bytes and token soup. None may
//! panic or overflow a 2 MiB test thread's stack, the tree never holds more nodes than the
//! alias bound allows, and memory stays proportional to the input: an allocator that
//! counts bytes per thread measures it, so nothing here depends on the machine's speed.
//!
//! Deterministic (a fixed seed) and bounded to a few hundred cases; more:
//! `PANKA_FUZZ_CASES=5000 cargo test -p panka-core --test it yaml_limits --release`.

use panka_core::diag::Diagnostic;
use panka_core::source::SourceId;
use panka_core::yaml::{
    ALIAS_NODES_BASE, ALIAS_NODES_PER_WRITTEN_NODE, MAX_DEPTH, Node, Value, parse_document,
};
use proptest::prelude::*;
use proptest::test_runner::{Config, RngAlgorithm, TestCaseError, TestRng, TestRunner};
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

/// Counts the bytes this thread has allocated and the most it held at once.
struct Counting;

thread_local! {
    static LIVE: Cell<usize> = const { Cell::new(0) };
    static PEAK: Cell<usize> = const { Cell::new(0) };
}

fn grew(bytes: usize) {
    // `try_with`: the allocator also runs while a thread's locals are being torn down.
    let _ = LIVE.try_with(|live| {
        let now = live.get() + bytes;
        live.set(now);
        let _ = PEAK.try_with(|peak| peak.set(peak.get().max(now)));
    });
}

fn shrank(bytes: usize) {
    let _ = LIVE.try_with(|live| live.set(live.get().saturating_sub(bytes)));
}

// SAFETY: every call is forwarded to the system allocator unchanged; the counters are
// thread-local cells with constant initialisers (no allocation, no destructor).
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        grew(layout.size());
        // SAFETY: same layout as the caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        shrank(layout.size());
        // SAFETY: `ptr` came from `alloc` with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // Shrinking happens in place; growing may copy, with both blocks live meanwhile.
        if new_size <= layout.size() {
            shrank(layout.size() - new_size);
        } else {
            grew(new_size);
            shrank(layout.size());
        }
        // SAFETY: forwarded as received.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// The most memory `f` held at once beyond what was live before it, on this thread.
fn peak_during<T>(f: impl FnOnce() -> T) -> (T, usize) {
    let before = LIVE.with(Cell::get);
    PEAK.with(|p| p.set(before));
    let out = f();
    (out, PEAK.with(Cell::get) - before)
}

fn parse(text: &str) -> Result<Node, Vec<Diagnostic>> {
    parse_document(SourceId(0), text)
}

/// Runs `f` on a thread with cargo's default test stack (2 MiB), whatever
/// `RUST_MIN_STACK` says, so a recursion the limits miss overflows here too.
fn on_small_stack<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    std::thread::Builder::new()
        .stack_size(2 << 20)
        .spawn(f)
        .expect("thread")
        .join()
        .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
}

/// Nodes in the tree, mapping keys included (as the parser counts them).
fn nodes(node: &Node) -> usize {
    1 + match &node.value {
        Value::Seq(items) => items.iter().map(nodes).sum(),
        Value::Map(entries) => entries.iter().map(|e| 1 + nodes(&e.value)).sum(),
        _ => 0,
    }
}

/// Levels of lists and mappings.
fn depth(node: &Node) -> usize {
    match &node.value {
        Value::Seq(items) => 1 + items.iter().map(depth).max().unwrap_or(0),
        Value::Map(entries) => 1 + entries.iter().map(|e| depth(&e.value)).max().unwrap_or(0),
        _ => 0,
    }
}

/// Nodes the file writes itself (every scalar, list and mapping event but aliases), read
/// with the parser directly.
fn written_nodes(text: &str) -> usize {
    use saphyr_parser::{Event, Parser};
    Parser::new_from_str(text)
        .map_while(Result::ok)
        .filter(|(e, _)| {
            matches!(
                e,
                Event::Scalar(..) | Event::SequenceStart(..) | Event::MappingStart(..)
            )
        })
        .count()
}

/// Every error is placed inside the text and renders with a code.
fn check_errors(text: &str, errs: &[Diagnostic]) -> Result<(), TestCaseError> {
    let lines: Vec<&str> = text.split('\n').collect();
    prop_assert!(!errs.is_empty());
    for d in errs {
        let span = d.span().expect("a position");
        prop_assert!(span.line >= 1 && span.line as usize <= lines.len(), "{d:?}");
        let width = lines[span.line as usize - 1].chars().count() as u32;
        prop_assert!(span.column >= 1 && span.column <= width + 1, "{d:?}");
    }
    Ok(())
}

fn runner(default_cases: u32) -> TestRunner {
    let cases = std::env::var("PANKA_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default_cases);
    let config = Config {
        cases,
        failure_persistence: None,
        max_shrink_iters: 100,
        ..Config::default()
    };
    let mut seed = [0u8; 32];
    seed[..8].copy_from_slice(&0x11_5eed_u64.to_le_bytes());
    TestRunner::new_with_rng(config, TestRng::from_seed(RngAlgorithm::ChaCha, &seed))
}

#[derive(Clone, Copy, Debug)]
enum Level {
    BlockSeq,
    BlockMap,
    FlowSeq,
    FlowMap,
}

/// A document of the given levels, outermost first: block levels one per line (flow
/// levels cannot hold block ones, so the block ones come first), then the flow levels
/// around a scalar on the last line.
fn nested(block: &[Level], flow: &[Level]) -> String {
    let mut text = String::new();
    let mut indent = 0;
    for level in block {
        let pad = " ".repeat(indent);
        match level {
            Level::BlockSeq => text.push_str(&format!("{pad}-\n")),
            _ => text.push_str(&format!("{pad}k:\n")),
        }
        indent += 2;
    }
    text.push_str(&" ".repeat(indent));
    for level in flow {
        text.push_str(match level {
            Level::FlowSeq => "[",
            _ => "{k: ",
        });
    }
    text.push('x');
    for level in flow.iter().rev() {
        text.push(match level {
            Level::FlowSeq => ']',
            _ => '}',
        });
    }
    text.push('\n');
    text
}

#[test]
fn deep_documents_stop_at_one_limit_for_every_kind_of_nesting() {
    let block = prop_oneof![Just(Level::BlockSeq), Just(Level::BlockMap)];
    let flow = prop_oneof![Just(Level::FlowSeq), Just(Level::FlowMap)];
    let strategy = (
        prop::collection::vec(block, 0..160),
        prop::collection::vec(flow, 0..300),
    );
    let result = runner(64).run(&strategy, |(block, flow)| {
        let levels = block.len() + flow.len();
        let text = nested(&block, &flow);
        let parsed = {
            let text = text.clone();
            on_small_stack(move || {
                // The tree is also cloned, compared, walked and dropped on the small stack.
                let parsed = parse(&text);
                let measured = parsed.as_ref().ok().map(|node| {
                    let copy = node.clone();
                    assert_eq!(&copy, node);
                    (depth(node), nodes(node))
                });
                (parsed.map(|_| ()), measured)
            })
        };
        match parsed {
            (Ok(()), Some((found, _))) => {
                prop_assert!(levels <= MAX_DEPTH, "{levels} levels were accepted");
                // An empty document is `E003`; every other shape has its levels.
                prop_assert_eq!(found, levels.max(1));
            }
            (Err(errs), _) if levels == 0 => prop_assert_eq!(errs[0].code, "E003"),
            (Err(errs), _) => {
                prop_assert!(levels > MAX_DEPTH, "{levels} levels: {errs:?}");
                check_errors(&text, &errs)?;
                prop_assert_eq!(errs.len(), 1, "{:?}", errs);
                prop_assert_eq!(errs[0].code, "E001");
                prop_assert_eq!(
                    &errs[0].message,
                    "lists and mappings nest more than 100 levels deep"
                );
                if block.len() > MAX_DEPTH {
                    // Block levels are counted as they open: level 101 is line 101.
                    prop_assert_eq!(errs[0].span().map(|s| s.line), Some(101));
                }
            }
            (Ok(()), None) => unreachable!("a parsed tree is measured"),
        }
        Ok(())
    });
    if let Err(e) = result {
        panic!("{e}");
    }
}

#[test]
fn three_hundred_thousand_levels_on_a_small_stack() {
    for text in [
        format!("{}1\n", "- ".repeat(300_000)),
        format!("{}1{}\n", "[".repeat(300_000), "]".repeat(300_000)),
        format!("{}1{}\n", "{a: ".repeat(300_000), "}".repeat(300_000)),
    ] {
        let errs = on_small_stack(move || parse(&text).expect_err("too deep"));
        assert_eq!(errs.len(), 1);
        assert_eq!(errs[0].code, "E001");
        assert!(
            errs[0].message.contains("nest more than 100 levels"),
            "{errs:?}"
        );
    }
}

/// Memory the parse of `text` may hold at once. The tree costs about 100 bytes per entry
/// or list item (an entry is 88 bytes, plus its key's and value's text), a line of
/// realistic settings is 4 to 5 times its text, one of the shortest (`k1: v`) 13 times.
fn memory_bound(text: &str) -> usize {
    24 * text.len() + (256 << 10)
}

/// The same for a document that is one flow collection (`{a: 1, b: 2, …}`): where a key
/// could start (the top of a document, a list item `- [`, not a value `key: [`), the
/// parser holds every token of a flow collection until it closes (it may still turn out
/// to be a key), about 60 to 170 bytes per byte of text. That is saphyr-parser's, and the
/// file-size limit bounds it.
fn flow_memory_bound(text: &str) -> usize {
    200 * text.len() + (256 << 10)
}

#[test]
fn wide_documents_are_accepted_in_memory_proportional_to_them() {
    let strategy = (1usize..20_000, 0usize..4, any::<bool>());
    let result = runner(10).run(&strategy, |(n, shape, duplicate)| {
        let mut text = match shape {
            0 => (0..n).map(|i| format!("key{i}: {i}\n")).collect::<String>(),
            1 => (0..n).map(|i| format!("- item{i}\n")).collect(),
            2 => format!(
                "{{{}}}\n",
                (0..n)
                    .map(|i| format!("k{i}: v"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            _ => (0..n)
                .map(|i| format!("- {{name: n{i}, value: {i}}}\n"))
                .collect(),
        };
        if duplicate && shape == 0 {
            text.push_str("key0: again\n");
        }
        let (parsed, peak) = peak_during(|| parse(&text));
        let bound = if shape == 2 {
            flow_memory_bound(&text)
        } else {
            memory_bound(&text)
        };
        prop_assert!(
            peak <= bound,
            "{peak} bytes for {} bytes of text",
            text.len()
        );
        match parsed {
            Ok(node) => {
                prop_assert!(!(duplicate && shape == 0));
                let items = match &node.value {
                    Value::Map(entries) => entries.len(),
                    Value::Seq(items) => items.len(),
                    _ => 0,
                };
                prop_assert_eq!(items, n);
            }
            Err(errs) => {
                prop_assert!(duplicate && shape == 0, "{:?}", &errs[..1]);
                prop_assert_eq!(errs[0].code, "E002");
                prop_assert_eq!(errs[0].span().map(|s| s.line as usize), Some(n + 1));
            }
        }
        Ok(())
    });
    if let Err(e) = result {
        panic!("{e}");
    }
}

#[test]
fn memory_grows_linearly_with_a_wide_mapping() {
    let text = |n: usize| {
        (0..n)
            .map(|i| format!("key{i}: value{i}\n"))
            .collect::<String>()
    };
    let (small, peak_small) = peak_during(|| parse(&text(25_000)).is_ok());
    let (large, peak_large) = peak_during(|| parse(&text(100_000)).is_ok());
    assert!(small && large);
    // Four times the keys: about four times the memory (list growth makes it step).
    assert!(
        peak_large <= 5 * peak_small,
        "{peak_small} bytes for 25,000 keys, {peak_large} for 100,000"
    );
}

/// `levels` lines, each a list of `fan` aliases of the line before; line 0 is a list of
/// `base` scalars.
fn alias_chain(levels: usize, fan: usize, base: usize) -> String {
    let scalars = vec!["v"; base.max(1)].join(", ");
    let mut text = format!("x0: &x0 [{scalars}]\n");
    for n in 1..=levels {
        let refs = vec![format!("*x{}", n - 1); fan.max(1)].join(", ");
        text.push_str(&format!("x{n}: &x{n} [{refs}]\n"));
    }
    text
}

#[test]
fn aliases_expand_at_most_to_the_bound() {
    let strategy = (0usize..14, 1usize..14, 1usize..40, 0usize..3000);
    let result = runner(96).run(&strategy, |(levels, fan, base, padding)| {
        // Padding: nodes the file writes itself, which raise the bound.
        let pad: String = (0..padding).map(|i| format!("p{i}: {i}\n")).collect();
        let text = format!("{pad}{}", alias_chain(levels, fan, base));
        let written = written_nodes(&text);
        let bound = ALIAS_NODES_BASE + (ALIAS_NODES_PER_WRITTEN_NODE + 1) * written;
        // The expansion of the whole chain, had it no limit (saturating: 13^13 overflows
        // nothing in u128, but stays readable).
        let mut expanded: u128 = 1 + base as u128;
        let mut whole: u128 = 1 + padding as u128 * 2 + 1 + expanded;
        for _ in 0..levels {
            expanded = 1 + fan as u128 * expanded;
            whole += 1 + expanded;
        }
        let (parsed, peak) = peak_during(|| parse(&text));
        match parsed {
            Ok(node) => {
                let held = nodes(&node);
                prop_assert_eq!(held as u128, whole);
                prop_assert!(held <= bound, "{held} nodes > {bound}");
            }
            Err(errs) => {
                check_errors(&text, &errs)?;
                prop_assert_eq!(errs[0].code, "E001");
                prop_assert!(
                    errs[0].message.starts_with("aliases expand this document"),
                    "{errs:?}"
                );
                prop_assert!(whole > ALIAS_NODES_BASE as u128, "refused {whole} nodes");
            }
        }
        // Anchored values are kept once more for later aliases: twice the bound at most.
        prop_assert!(
            peak <= 2 * 130 * bound + memory_bound(&text),
            "{peak} bytes for a bound of {bound} nodes"
        );
        Ok(())
    });
    if let Err(e) = result {
        panic!("{e}");
    }
}

/// Text that YAML treats specially, for random documents made of it.
const TOKENS: &[&str] = &[
    "[", "]", "{", "}", ", ", ": ", "- ", "\n", "  ", "&a ", "&b ", "*a", "*b", "? ", "x", "\"q\"",
    "'s'", "|\n", "#", "!t ", "---\n", "\t", "~", "1",
];

#[test]
fn random_bytes_and_token_soup_never_panic_and_respect_the_bounds() {
    let bytes = prop::collection::vec(any::<u8>(), 0..2_000)
        .prop_map(|b| String::from_utf8_lossy(&b).into_owned());
    let soup = prop::collection::vec(0..TOKENS.len(), 0..600)
        .prop_map(|t| t.into_iter().map(|i| TOKENS[i]).collect::<String>());
    let strategy = prop_oneof![bytes, soup];
    let result = runner(400).run(&strategy, |text| {
        let outcome = {
            let text = text.clone();
            on_small_stack(move || match parse(&text) {
                Ok(node) => Ok((nodes(&node), depth(&node))),
                Err(errs) => Err(errs),
            })
        };
        match outcome {
            Ok((held, levels)) => {
                let bound =
                    ALIAS_NODES_BASE + (ALIAS_NODES_PER_WRITTEN_NODE + 1) * written_nodes(&text);
                prop_assert!(held <= bound, "{held} nodes > {bound}");
                prop_assert!(levels <= MAX_DEPTH);
            }
            Err(errs) => check_errors(&text, &errs)?,
        }
        Ok(())
    });
    if let Err(e) = result {
        panic!("{e}");
    }
}
