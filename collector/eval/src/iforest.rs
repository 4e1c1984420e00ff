//! A small isolation forest (Liu, Ting and Zhou, 2008): the off-the-shelf
//! unsupervised baseline the scorer is compared with, on the scorer's own
//! features ([`observatory_collector::score::Scorer::features`]).
//!
//! Trees split on a random feature at a random value between its minimum
//! and maximum in the node, down to a depth of ⌈log₂ ψ⌉; a point's score is
//! `2^(−E[h(x)] / c(ψ))` with `c` the average path length of an
//! unsuccessful binary search: near 1 is isolated quickly (anomalous),
//! near 0.5 and below is ordinary.

/// A node: a split, or a leaf holding how many training points reached it.
enum Node {
    Split {
        feature: usize,
        value: f64,
        left: Box<Node>,
        right: Box<Node>,
    },
    Leaf(usize),
}

pub struct IsolationForest {
    trees: Vec<Node>,
    /// Points per tree (ψ).
    sample: usize,
}

/// Average path length of an unsuccessful search among `n` points.
fn c(n: usize) -> f64 {
    match n {
        0 | 1 => 0.0,
        2 => 1.0,
        n => {
            let n = n as f64;
            2.0 * ((n - 1.0).ln() + 0.577_215_664_9) - 2.0 * (n - 1.0) / n
        }
    }
}

impl IsolationForest {
    /// `trees` trees of `sample` points each, drawn from `points`.
    pub fn fit(points: &[Vec<f64>], trees: usize, sample: usize, seed: u64) -> Self {
        let mut rng = fastrand::Rng::with_seed(seed);
        let sample = sample.min(points.len()).max(1);
        let depth = (sample as f64).log2().ceil() as usize;
        let trees = (0..trees)
            .map(|_| {
                let mut idx: Vec<usize> = (0..points.len()).collect();
                rng.shuffle(&mut idx);
                idx.truncate(sample);
                build(points, &mut idx, depth, &mut rng)
            })
            .collect();
        IsolationForest { trees, sample }
    }

    /// Anomaly score in (0, 1].
    pub fn score(&self, x: &[f64]) -> f64 {
        if self.trees.is_empty() {
            return 0.0;
        }
        let mean: f64 =
            self.trees.iter().map(|t| path(t, x, 0)).sum::<f64>() / self.trees.len() as f64;
        let norm = c(self.sample).max(1.0);
        2f64.powf(-mean / norm)
    }
}

fn build(points: &[Vec<f64>], idx: &mut [usize], depth: usize, rng: &mut fastrand::Rng) -> Node {
    let dims = points.first().map_or(0, Vec::len);
    if depth == 0 || idx.len() <= 1 || dims == 0 {
        return Node::Leaf(idx.len());
    }
    // A feature that varies in this node, if any (a few tries).
    for _ in 0..8 {
        let feature = rng.usize(0..dims);
        let (lo, hi) = idx
            .iter()
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &i| {
                let v = points[i][feature];
                (lo.min(v), hi.max(v))
            });
        if hi > lo {
            let value = lo + rng.f64() * (hi - lo);
            let mut cut = 0;
            for k in 0..idx.len() {
                if points[idx[k]][feature] < value {
                    idx.swap(k, cut);
                    cut += 1;
                }
            }
            let (left, right) = idx.split_at_mut(cut);
            return Node::Split {
                feature,
                value,
                left: Box::new(build(points, left, depth - 1, rng)),
                right: Box::new(build(points, right, depth - 1, rng)),
            };
        }
    }
    Node::Leaf(idx.len())
}

fn path(node: &Node, x: &[f64], depth: usize) -> f64 {
    match node {
        Node::Leaf(n) => depth as f64 + c(*n),
        Node::Split {
            feature,
            value,
            left,
            right,
        } => {
            let v = x.get(*feature).copied().unwrap_or(0.0);
            path(if v < *value { left } else { right }, x, depth + 1)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_outlier_isolates_faster_than_the_crowd() {
        let mut rng = fastrand::Rng::with_seed(3);
        let points: Vec<Vec<f64>> = (0..2000).map(|_| vec![rng.f64(), rng.f64()]).collect();
        let forest = IsolationForest::fit(&points, 100, 256, 1);
        let inside = forest.score(&[0.5, 0.5]);
        let outside = forest.score(&[5.0, -3.0]);
        assert!(outside > 0.6 && inside < 0.5, "{outside} vs {inside}");
    }
}
