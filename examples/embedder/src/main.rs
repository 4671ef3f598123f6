//! A template embedder: a program outside the runtime's workspace that
//! uses only its safe API (`forbid(unsafe_code)`): a runtime, a mutator,
//! a binary tree built in a handle scope, a collection that moves it, and a
//! check that it came through whole.

#![forbid(unsafe_code)]

use runtime::{AllocError, AllocSpec, Gc, Mutator, Runtime, Value};

const NODE: AllocSpec = AllocSpec {
    tag: 1,
    slots: 2,
    bytes: 8,
    pinned: false,
    weak: false,
};

/// Builds a full binary tree of `depth` on the value stack (its root ends
/// on top); every node's raw word counts the nodes below it and itself.
fn tree(m: &mut Mutator, depth: u32) -> Result<(), AllocError> {
    if depth == 0 {
        let (m, leaf) = m.alloc(NODE)?;
        leaf.set_raw_word(0, 1);
        m.push(leaf.into());
        return Ok(());
    }
    tree(m, depth - 1)?;
    tree(m, depth - 1)?;
    let (m, node) = m.alloc(NODE)?;
    let right = m.pop().expect("the right subtree");
    let left = m.pop().expect("the left subtree");
    let count = |v: Value<'_>| v.as_object().map_or(0, |o| o.raw_word(0));
    node.set_raw_word(0, 1 + count(left) + count(right));
    m.write(node, 0, left);
    m.write(node, 1, right);
    m.push(node.into());
    Ok(())
}

/// Counts the nodes by walking the tree.
fn walk(node: Gc<'_>) -> u64 {
    let children = [node.slot(0), node.slot(1)];
    1 + children
        .iter()
        .filter_map(|v| v.as_object())
        .map(walk)
        .sum::<u64>()
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let rt = Runtime::builder().heap_limit(64 << 20).build()?;
    let mut m = rt.mutator()?;
    for _ in 0..10 {
        tree(&mut m, 10)?; // garbage: it moves what stays
        m.pop();
    }
    tree(&mut m, 12)?;
    m.collect()?;
    let root = m.stack_top().and_then(|v| v.as_object()).expect("the tree");
    let (stored, walked) = (root.raw_word(0), walk(root));
    assert_eq!(stored, walked, "the tree came through the collection whole");
    assert_eq!(walked, (1 << 13) - 1);
    m.quiesce(); // the compaction in flight ends and is counted
    println!(
        "embedder: {walked} nodes after {} collection(s) in {} mode",
        m.stats().cycles,
        rt.mode()
    );
    Ok(())
}
