//! `bench --profile`: where one training step's time goes, operation by operation.
//!
//! Burn has no per-operation timer for the CPU backend, so the step is replayed through the
//! model's own modules one operation at a time (`replay`; a test checks that it computes the
//! model's `forward` exactly), and each operation is timed on its own, with the input it gets in
//! the step: its forward (recording the autodiff graph, as training does), its backward with the
//! input's and the parameters' gradients, and its backward with the parameters' gradients only;
//! the difference of the two backward passes is the input gradient. Operations with the same
//! shapes are timed once and counted. The sum of the parts is printed beside the whole step, timed
//! as the training loop runs it, so what the profile misses (the autodiff bookkeeping between
//! operations, allocator effects) shows as the difference.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::time::Instant;

use burn::nn::conv::Conv2d;
use burn::nn::loss::CrossEntropyLossConfig;
use burn::nn::pool::MaxPool2d;
use burn::nn::{BatchNorm, Linear};
use burn::optim::momentum::MomentumConfig;
use burn::optim::{GradientsParams, SgdConfig};
use burn::prelude::*;
use burn::tensor::Distribution;
use burn::tensor::activation::{gelu, relu};
use cifar_model::fast::global_max_pool;
use cifar_model::{FastResNet, Model, ModelConfig, ResNet};

use crate::bench::BenchSettings;

/// What an operation is, for the per-kind totals.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    Convolution,
    BatchNorm,
    Activation,
    Pooling,
    ResidualAdd,
    Linear,
    Loss,
    Other,
}

impl Kind {
    pub const ALL: [Kind; 8] = [
        Kind::Convolution,
        Kind::BatchNorm,
        Kind::Activation,
        Kind::Pooling,
        Kind::ResidualAdd,
        Kind::Linear,
        Kind::Loss,
        Kind::Other,
    ];

    fn name(self) -> &'static str {
        match self {
            Kind::Convolution => "convolution",
            Kind::BatchNorm => "BatchNorm",
            Kind::Activation => "activation",
            Kind::Pooling => "pooling",
            Kind::ResidualAdd => "residual add",
            Kind::Linear => "linear",
            Kind::Loss => "loss",
            Kind::Other => "other",
        }
    }
}

/// Seconds one call of an operation takes (medians of the timed repetitions).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Timing {
    pub forward: f64,
    /// Backward work for the gradient of the operation's input (none for the first layer, whose
    /// input is the images).
    pub input_grad: f64,
    /// Backward work for the gradients of the operation's parameters.
    pub param_grad: f64,
}

/// One distinct operation of the step: its shapes, how often the step runs it, its time per call.
#[derive(Clone, Debug)]
pub struct Entry {
    pub kind: Kind,
    pub label: String,
    pub count: usize,
    pub per_call: Timing,
}

impl Entry {
    fn total(&self) -> f64 {
        let t = self.per_call;
        (t.forward + t.input_grad + t.param_grad) * self.count as f64
    }
}

/// The whole training step as the training loop runs it, split at its synchronisation points.
#[derive(Clone, Copy, Debug, Default)]
pub struct StepTiming {
    /// Forward pass and loss.
    pub forward: f64,
    pub backward: f64,
    pub optimiser: f64,
}

#[derive(Clone, Debug)]
pub struct Profile {
    pub batch: usize,
    pub entries: Vec<Entry>,
    pub step: StepTiming,
}

/// Profiles one training step of `config` at the settings' training batch size.
pub fn profile(config: &ModelConfig, settings: &BenchSettings, device: &Device) -> Profile {
    device.seed(0);
    let device = device.clone().autodiff();
    let batch = settings.train_batch;
    let mut model = config.init(&device);
    let images = Tensor::<4>::random([batch, 3, 32, 32], Distribution::Normal(0.0, 1.0), &device);
    let targets = targets(batch, config.num_classes(), &device);
    let loss_fn = CrossEntropyLossConfig::new().init(&device);
    let mut optim = SgdConfig::new()
        .with_momentum(Some(MomentumConfig::new().with_dampening(0.0)))
        .init();

    // The whole step, as `bench` and the training loop run it.
    let mut forward = Vec::new();
    let mut backward = Vec::new();
    let mut optimiser = Vec::new();
    for iteration in 0..settings.warmup + settings.iterations {
        let started = Instant::now();
        let loss = loss_fn.forward(model.forward(images.clone()), targets.clone());
        sync(&device);
        let forward_done = Instant::now();
        let grads = GradientsParams::from_grads(loss.backward(), &model);
        sync(&device);
        let backward_done = Instant::now();
        model = optim.step(0.01, model, grads);
        sync(&device);
        if iteration >= settings.warmup {
            forward.push((forward_done - started).as_secs_f64());
            backward.push((backward_done - forward_done).as_secs_f64());
            optimiser.push(backward_done.elapsed().as_secs_f64());
        }
    }
    let step = StepTiming {
        forward: median(forward),
        backward: median(backward),
        optimiser: median(optimiser),
    };

    let mut profiler = Profiler::new(Some(settings));
    let logits = replay(&model, images, &mut profiler);
    profiler.op(
        Kind::Loss,
        "cross-entropy".into(),
        logits,
        false,
        |logits| loss_fn.forward(logits, targets.clone()),
    );
    Profile {
        batch,
        entries: profiler.entries,
        step,
    }
}

fn targets(batch: usize, classes: usize, device: &Device) -> Tensor<1, Int> {
    let labels: Vec<i64> = (0..batch as i64).map(|i| i % classes as i64).collect();
    Tensor::from_data(TensorData::new(labels, [batch]), device)
}

fn sync(device: &Device) {
    device.sync().expect("the device failed while profiling");
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    match values.len() {
        0 => 0.0,
        n if n % 2 == 1 => values[n / 2],
        n => (values[n / 2 - 1] + values[n / 2]) / 2.0,
    }
}

/// Runs the operations of a forward pass, timing each distinct one (unless built without
/// settings, which only counts them: the tests use that).
pub struct Profiler<'a> {
    settings: Option<&'a BenchSettings>,
    entries: Vec<Entry>,
    index: HashMap<(Kind, String), usize>,
}

impl<'a> Profiler<'a> {
    pub fn new(settings: Option<&'a BenchSettings>) -> Self {
        Self {
            settings,
            entries: Vec::new(),
            index: HashMap::new(),
        }
    }

    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }

    /// Applies `f` to `input` (the value the step goes on with), after timing it unless an
    /// operation of this kind and label was timed already.
    pub fn op<const I: usize, const O: usize>(
        &mut self,
        kind: Kind,
        label: String,
        input: Tensor<I>,
        has_params: bool,
        f: impl Fn(Tensor<I>) -> Tensor<O>,
    ) -> Tensor<O> {
        self.record(kind, label, |settings| {
            time_op(settings, &input, has_params, &f)
        });
        f(input)
    }

    /// Counts one more call of (kind, label), timing it with `time` on its first call.
    fn record(&mut self, kind: Kind, label: String, time: impl FnOnce(&BenchSettings) -> Timing) {
        let key = (kind, label);
        if let Some(&i) = self.index.get(&key) {
            self.entries[i].count += 1;
            return;
        }
        let per_call = self.settings.map(time).unwrap_or_default();
        self.index.insert(key.clone(), self.entries.len());
        self.entries.push(Entry {
            kind,
            label: key.1,
            count: 1,
            per_call,
        });
    }

    fn conv(&mut self, conv: &Conv2d, x: Tensor<4>) -> Tensor<4> {
        let [_, c_in, h, w] = x.dims();
        let [c_out, _, kh, kw] = conv.weight.dims();
        let label = format!(
            "conv {c_in}→{c_out} {kh}×{kw} stride {} on {h}×{w}",
            conv.stride[0]
        );
        self.op(Kind::Convolution, label, x, true, |x| conv.forward(x))
    }

    fn norm(&mut self, norm: &BatchNorm, x: Tensor<4>) -> Tensor<4> {
        let label = format!("BatchNorm {}", shape(&x));
        self.op(Kind::BatchNorm, label, x, true, |x| norm.forward(x))
    }

    fn relu(&mut self, x: Tensor<4>) -> Tensor<4> {
        let label = format!("ReLU {}", shape(&x));
        self.op(Kind::Activation, label, x, false, relu)
    }

    fn gelu(&mut self, x: Tensor<4>) -> Tensor<4> {
        let label = format!("GELU {}", shape(&x));
        self.op(Kind::Activation, label, x, false, gelu)
    }

    fn max_pool(&mut self, pool: &MaxPool2d, x: Tensor<4>) -> Tensor<4> {
        let label = format!(
            "max pool {}×{} on {}",
            pool.kernel_size[0],
            pool.kernel_size[1],
            shape(&x)
        );
        self.op(Kind::Pooling, label, x, false, |x| pool.forward(x))
    }

    fn linear(&mut self, linear: &Linear, x: Tensor<2>) -> Tensor<2> {
        let [c_in, c_out] = linear.weight.dims();
        self.op(
            Kind::Linear,
            format!("linear {c_in}→{c_out}"),
            x,
            true,
            |x| linear.forward(x),
        )
    }

    /// `a + b`, both inputs carrying gradients.
    fn add(&mut self, a: Tensor<4>, b: Tensor<4>) -> Tensor<4> {
        let label = format!("add {}", shape(&a));
        // Timed as one input plus a fixed tensor: the second input's gradient is the same
        // pass-through as the first's, so it is counted twice below.
        let other = b.clone().detach();
        self.record(Kind::ResidualAdd, label, |settings| {
            let mut per_call = time_op(settings, &a, false, &|a: Tensor<4>| a + other.clone());
            per_call.input_grad *= 2.0;
            per_call
        });
        a + b
    }
}

fn shape(x: &Tensor<4>) -> String {
    let [_, c, h, w] = x.dims();
    format!("{c}×{h}×{w}")
}

/// Times one operation: forward, backward with the input's gradient, backward without it.
fn time_op<const I: usize, const O: usize>(
    settings: &BenchSettings,
    input: &Tensor<I>,
    has_params: bool,
    f: &impl Fn(Tensor<I>) -> Tensor<O>,
) -> Timing {
    let device = input.device();
    let input_tracked = input.is_tracked();
    // A fresh leaf each time, so that each backward runs through this operation only.
    let leaf = |with_grad: bool| {
        let x = input.clone().detach();
        if with_grad { x.require_grad() } else { x }
    };
    let repeat = |run: &mut dyn FnMut() -> Option<f64>| -> Option<f64> {
        let mut times = Vec::new();
        for iteration in 0..settings.warmup + settings.iterations {
            let time = run()?;
            if iteration >= settings.warmup {
                times.push(time);
            }
        }
        Some(median(times))
    };
    let forward = repeat(&mut || {
        let x = leaf(input_tracked);
        sync(&device);
        let started = Instant::now();
        let y = f(x);
        sync(&device);
        let time = started.elapsed().as_secs_f64();
        drop(y);
        Some(time)
    })
    .unwrap_or_default();
    let backward = |with_input_grad: bool| {
        repeat(&mut || {
            let y = f(leaf(with_input_grad));
            // Nothing to differentiate (e.g. every parameter frozen): no backward work.
            if !y.is_tracked() {
                return None;
            }
            sync(&device);
            let started = Instant::now();
            let grads = y.backward();
            sync(&device);
            let time = started.elapsed().as_secs_f64();
            drop(grads);
            Some(time)
        })
    };
    let with_input = input_tracked.then(|| backward(true)).flatten();
    let params_only = has_params.then(|| backward(false)).flatten();
    let (input_grad, param_grad) = match (with_input, params_only) {
        (Some(both), Some(params)) => ((both - params).max(0.0), params),
        (Some(both), None) => (both, 0.0),
        (None, Some(params)) => (0.0, params),
        (None, None) => (0.0, 0.0),
    };
    Timing {
        forward,
        input_grad,
        param_grad,
    }
}

/// The model's forward pass, one profiled operation at a time. Mirrors `ResNet::forward`,
/// `BasicBlock::forward`, `FastResNet::forward` and `ResidualGroup::forward` in the model crate
/// (`replay_computes_forward` in the tests holds it to them).
pub fn replay(model: &Model, images: Tensor<4>, p: &mut Profiler) -> Tensor<2> {
    match model {
        Model::ResNet(model) => replay_resnet(model, images, p),
        Model::Fast(model) => replay_fast(model, images, p),
    }
}

fn replay_resnet(model: &ResNet, images: Tensor<4>, p: &mut Profiler) -> Tensor<2> {
    let x = p.conv(&model.conv1, images);
    let x = p.norm(&model.bn1, x);
    let mut x = p.relu(x);
    for block in model.stages().into_iter().flatten() {
        let out = p.conv(&block.conv1, x.clone());
        let out = p.norm(&block.bn1, out);
        let out = p.relu(out);
        let out = p.conv(&block.conv2, out);
        let out = p.norm(&block.bn2, out);
        let identity = match &block.shortcut {
            Some((conv, norm)) => {
                let shortcut = p.conv(conv, x);
                p.norm(norm, shortcut)
            }
            None => x,
        };
        let sum = p.add(out, identity);
        x = p.relu(sum);
    }
    let label = format!("average pool {}", shape(&x));
    let x = p.op(Kind::Pooling, label, x, false, |x| {
        model.avgpool.forward(x).flatten::<2>(1, 3)
    });
    p.linear(&model.linear, x)
}

fn replay_fast(model: &FastResNet, images: Tensor<4>, p: &mut Profiler) -> Tensor<2> {
    let x = p.conv(&model.whiten, images);
    let mut x = p.gelu(x);
    for group in &model.layers {
        let y = p.conv(&group.conv1, x);
        let y = p.max_pool(&group.pool, y);
        let y = p.norm(&group.norm1, y);
        let y = p.gelu(y);
        let residual = p.conv(&group.conv2, y.clone());
        let residual = p.norm(&group.norm2, residual);
        let residual = p.gelu(residual);
        x = p.add(y, residual);
    }
    let label = format!("global max pool {}", shape(&x));
    let x = p.op(Kind::Pooling, label, x, false, global_max_pool);
    let logits = p.linear(&model.head, x);
    let scale = model.logit_scale;
    p.op(Kind::Other, "logit scale".into(), logits, false, |logits| {
        logits * scale
    })
}

/// The profile as a table: each distinct operation, then totals per kind, then the sum of the
/// parts against the whole step. Times in milliseconds per step.
pub fn report(name: &str, profile: &Profile) -> String {
    let ms = |seconds: f64| seconds * 1e3;
    let step = profile.step;
    let whole = step.forward + step.backward + step.optimiser;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{name}: one training step at batch {}: {:.1} ms (forward + loss {:.1}, backward {:.1}, optimiser {:.1}), {:.1} img/s",
        profile.batch,
        ms(whole),
        ms(step.forward),
        ms(step.backward),
        ms(step.optimiser),
        profile.batch as f64 / whole
    );
    let _ = writeln!(
        out,
        "{:<44} {:>5} {:>10} {:>10} {:>10} {:>9} {:>6}",
        "operation (ms per step, all calls)",
        "calls",
        "forward",
        "input grad",
        "param grad",
        "total",
        "share"
    );
    let mut entries: Vec<&Entry> = profile.entries.iter().collect();
    entries.sort_by(|a, b| b.total().total_cmp(&a.total()));
    for entry in entries {
        let t = entry.per_call;
        let n = entry.count as f64;
        let _ = writeln!(
            out,
            "{:<44} {:>5} {:>10.2} {:>10.2} {:>10.2} {:>9.2} {:>5.1}%",
            entry.label,
            entry.count,
            ms(t.forward * n),
            ms(t.input_grad * n),
            ms(t.param_grad * n),
            ms(entry.total()),
            100.0 * entry.total() / whole
        );
    }
    let _ = writeln!(out, "per kind:");
    let mut parts = 0.0;
    for kind in Kind::ALL {
        let of_kind: Vec<&Entry> = profile.entries.iter().filter(|e| e.kind == kind).collect();
        if of_kind.is_empty() {
            continue;
        }
        let sum = |part: fn(&Timing) -> f64| {
            of_kind
                .iter()
                .map(|e| part(&e.per_call) * e.count as f64)
                .sum::<f64>()
        };
        let (forward, input_grad, param_grad) = (
            sum(|t| t.forward),
            sum(|t| t.input_grad),
            sum(|t| t.param_grad),
        );
        let total = forward + input_grad + param_grad;
        parts += total;
        let _ = writeln!(
            out,
            "{:<44} {:>5} {:>10.2} {:>10.2} {:>10.2} {:>9.2} {:>5.1}%",
            kind.name(),
            of_kind.iter().map(|e| e.count).sum::<usize>(),
            ms(forward),
            ms(input_grad),
            ms(param_grad),
            ms(total),
            100.0 * total / whole
        );
    }
    let _ = writeln!(
        out,
        "{:<44} {:>5} {:>10} {:>10} {:>10} {:>9.2} {:>5.1}%",
        "optimiser update (from the whole step)",
        "",
        "",
        "",
        "",
        ms(step.optimiser),
        100.0 * step.optimiser / whole
    );
    parts += step.optimiser;
    let _ = writeln!(
        out,
        "sum of the parts {:.1} ms = {:.2}× the whole step ({:.1} ms); the rest is autodiff bookkeeping between operations and timing noise",
        ms(parts),
        parts / whole,
        ms(whole)
    );
    out
}
