//! A generated stream: which generator, which seed, how long, and the mesh
//! it comes from (the scorer is told the mesh's mTLS mode, as the collector
//! would be).

use observatory_collector::score::MeshMode;

use crate::calltree::{CallTreeTraffic, TreeConfig};
use crate::label::Labeled;
use crate::sim::{SimConfig, Traffic};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Generator {
    /// Generator 1 ([`crate::sim`]): the model's parameters are tuned on it.
    Sim,
    /// Generator 2 ([`crate::calltree`]): held out, reported and not
    /// tuned on (seed 1 was run while the generator was written).
    Calltree,
}

/// One stream to score.
#[derive(Debug, Clone, Copy)]
pub struct Run {
    pub generator: Generator,
    pub seed: u64,
    pub hours: f64,
    pub rate_scale: f64,
}

impl Run {
    /// Generator 1 has a legacy plaintext client (a permissive mesh);
    /// generator 2 is strict mTLS.
    pub fn mesh(&self) -> MeshMode {
        match self.generator {
            Generator::Sim => MeshMode::Permissive,
            Generator::Calltree => MeshMode::Strict,
        }
    }

    pub fn name(&self) -> String {
        let g = match self.generator {
            Generator::Sim => "gen 1",
            Generator::Calltree => "gen 2",
        };
        format!("{g} seed {}", self.seed)
    }

    pub fn traffic(&self) -> Box<dyn Iterator<Item = Labeled>> {
        match self.generator {
            Generator::Sim => Box::new(Traffic::new(SimConfig {
                seed: self.seed,
                hours: self.hours,
                rate_scale: self.rate_scale,
                ..SimConfig::default()
            })),
            Generator::Calltree => Box::new(CallTreeTraffic::new(TreeConfig {
                seed: self.seed,
                hours: self.hours,
                rate_scale: self.rate_scale,
                ..TreeConfig::default()
            })),
        }
    }
}

/// Command-line knobs of the examples that generate one stream.
#[derive(Debug, clap::Args)]
pub struct RunArgs {
    #[arg(long, value_enum, default_value_t = Generator::Sim)]
    pub generator: Generator,
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// [default: 3 for generator 1, 2 for generator 2]
    #[arg(long)]
    pub hours: Option<f64>,
    /// Multiplies the baseline request rates
    #[arg(long, default_value_t = 1.0)]
    pub rate_scale: f64,
}

impl RunArgs {
    pub fn run(&self) -> Run {
        Run {
            generator: self.generator,
            seed: self.seed,
            hours: self.hours.unwrap_or(match self.generator {
                Generator::Sim => 3.0,
                Generator::Calltree => 2.0,
            }),
            rate_scale: self.rate_scale,
        }
    }
}
