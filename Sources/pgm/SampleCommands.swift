import Formats
import ArgumentParser
import Checkpoints
import Engine
import Foundation
import Networks
import Teacher
import Tokenizers
import Distill

/// `pgm sample --model DIR --steps S --count N …`: samples from a model folder.
struct SampleCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "sample",
    abstract: "Generate sequences from a model folder (partition sampler or MDLM ancestral sampling).",
    discussion: "Prints each sample's text (position 0, the BOS, left out) when DIR holds a tokenizer "
      + "(tokenizer.json, vocab.json + merges.txt, char-tokenizer.json or one *.tiktoken), else one line of "
      + "space-separated ids per sample. --ids-out writes every sample's ids, BOS included, as JSON lines. "
      + "Progress goes to standard error. The same --seed gives the same samples whatever --batch is.")

  @Option(help: "Model folder: config.json and model.safetensors (and optionally a tokenizer).")
  var model: String

  @Option(help: "Weights to use instead of DIR/model.safetensors.")
  var weights: String?

  @Option(parsing: .unconditional, help: "Sampling steps (the uniform partition sampler needs a divisor of the sequence length).")
  var steps: Int

  @Option(parsing: .unconditional, help: "Number of samples.")
  var count: Int = 1

  @Option(parsing: .unconditional, help: "Samples per network pass.")
  var batch: Int = 1

  @Option(help: "Text the samples continue (needs a tokenizer in DIR); it follows the BOS.")
  var prefix: String?

  @Option(help: "Token ids the samples continue, space-separated; they follow the BOS.")
  var prefixIds: String?

  @Option(help: "The BOS id at position 0 (default: an export's tokenizer.bos_token_id, the tokenizer's end-of-text, else the id below the mask).")
  var bos: Int32?

  @Option(help: "Nucleus filtering: keep the most probable tokens up to this mass (1 = off).")
  var topP: Double = 1

  @Option(help: "Divide the logits by this before filtering and drawing (1 = off; below 1 sharpens).")
  var temperature: Double = 1

  @Option(help: "Partition networks: uniform (published default) or non-uniform reveal counts.")
  var sampler: PartitionSchedule = .uniform

  @Flag(help: "The final reveal of each sample takes the argmax instead of a draw.")
  var greedyTail = false

  @Option(help: "Which positions a step reveals: random (the reference's) or confidence (the surest draws first).")
  var order: RevealOrder = .random

  @Option(help: "Noise-conditioned students: each step draws σ ~ U(0, NOISE) per sample (0 = off).")
  var noise: Double = 0

  @Flag(help: "Students distilled with seed tokens: the first step reads a random token at every unknown position.")
  var seedTokens = false

  @Option(help: "Seed of the random stream.")
  var seed: UInt64 = 0

  @Option(help: "Write the samples' ids as JSON lines (one array per sample) to this file.")
  var idsOut: String?

  func validate() throws {
    if prefix != nil && prefixIds != nil { throw ValidationError("give --prefix or --prefix-ids, not both") }
    if count < 1 { throw ValidationError("--count must be at least 1") }
    if steps < 1 { throw ValidationError("--steps must be at least 1 (got \(steps))") }
    if batch < 1 { throw ValidationError("--batch must be at least 1 (got \(batch))") }
    if !(topP > 0 && topP <= 1) { throw ValidationError("--top-p must lie in (0, 1] (got \(topP))") }
    if !(temperature > 0 && temperature.isFinite) { throw ValidationError("--temperature must be a finite number > 0 (got \(temperature))") }
  }

  func run() throws {
    try reportingErrors {
      let dir = URL(fileURLWithPath: model)
      let network = try ModelFolder.load(dir, weights: weights.map { URL(fileURLWithPath: $0) }).requireDenoiser("pgm sample")
      let config = network.config
      try ResourceEstimate.require(memory: [("sampling --count \(count) sequences of \(config.length) tokens at --batch \(batch)",
                                             ResourceEstimate.samplingBytes(config, count: count, batch: batch))],
                                   disk: [], at: dir)
      if let idsOut {
        let folder = URL(fileURLWithPath: idsOut).deletingLastPathComponent()
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: folder.path, isDirectory: &isDir), isDir.boolValue else {
          throw FileError(path: idsOut, operation: "write --ids-out to", cause: "the folder \(folder.path) does not exist")
        }
      }
      let tokenizer = try Self.tokenizer(in: dir, for: config)
      // An export records its BOS in config.json (tokenizer.bos_token_id).
      let exported = try? ExportedFacts.read(dir.appendingPathComponent(ModelFolder.configFile))
      var known = [bos ?? exported?.tokens.bosId ?? tokenizer?.bos ?? Int32(config.maskIndex - 1)]
      if let prefix {
        guard let tokenizer else {
          throw CommandFailure("--prefix needs a tokenizer in \(dir.path); use --prefix-ids with token ids")
        }
        known += try tokenizer.encode(prefix)
      }
      if let prefixIds {
        let parts = prefixIds.split(whereSeparator: { $0 == " " || $0 == "," })
        known += try parts.map { part in
          guard let id = Int32(part) else { throw CommandFailure("--prefix-ids: '\(part)' is not a token id") }
          return id
        }
      }
      let options = SamplingOptions(prefix: known, batchSize: batch, topP: topP, greedyTail: greedyTail, schedule: sampler,
                                    order: order, noise: noise, temperature: temperature, seedTokens: seedTokens)
      var rng = RandomStream(seed: seed)
      let start = Clock.now()
      let run = try makeSampler(for: network).generate(count: count, steps: steps, rng: &rng, options: options) { done in
        let elapsed = Clock.now() - start
        Output.progress(String(format: "sampled %d/%d (%.2f samples/s, %.0f tokens/s)", done, count,
                               Double(done) / elapsed, Double(done * config.length) / elapsed))
      }
      if let idsOut {
        let lines = run.samples.map { "[" + $0.map(String.init).joined(separator: ",") + "]\n" }.joined()
        try AtomicFile.write(Data(lines.utf8), to: URL(fileURLWithPath: idsOut))
      }
      for (i, sample) in run.samples.enumerated() {
        if let tokenizer {
          print("=== sample \(i + 1) ===")
          print(tokenizer.decode(Array(sample.dropFirst())))
        } else {
          print(sample.map(String.init).joined(separator: " "))
        }
      }
    }
  }

  /// The model folder's tokenizer, if it holds one; it must match the model's vocabulary
  /// (its tokens plus the mask).
  static func tokenizer(in dir: URL, for config: ModelConfig) throws -> (any Tokenizer)? {
    let fm = FileManager.default
    let names = (try? fm.contentsOfDirectory(atPath: dir.path)) ?? []
    let has = names.contains("tokenizer.json") || names.contains("char-tokenizer.json")
      || (names.contains("vocab.json") && names.contains("merges.txt")) || names.contains { $0.hasSuffix(".tiktoken") }
    guard has else { return nil }
    let tokenizer = try TokenizerLoader.load(dir)
    guard tokenizer.vocabularySizeWithMask == config.vocabSize && Int(tokenizer.maskId) == config.maskIndex else {
      throw CommandFailure("the tokenizer in \(dir.path) has \(tokenizer.vocabularySize) tokens (+ mask \(tokenizer.maskId)), "
        + "but the model has \(config.vocabSize) classes with mask \(config.maskIndex)")
    }
    return tokenizer
  }
}


/// `pgm bench sample [--json]`: partition sampler against MDLM at the same width.
struct BenchSampleCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "sample",
    abstract: "Sampling latency (batch 1) and throughput (batch 8) of the partition sampler against MDLM "
      + "(D=256, 4 heads, V=2049, L=1024, 6+6 vs 12 blocks, 128 steps), with the FLOP-count prediction.",
    discussion: "Takes several minutes (MDLM at batch 8 runs 128 full passes over 8 × 1024 tokens).")

  @Flag(help: "Print one JSON object.")
  var json = false

  @Option(help: "Sampling steps (must divide 1024).")
  var steps = 128

  @Option(help: "Batch size of the throughput runs.")
  var batch = 8

  @Option(help: "Timed batch-1 runs of each sampler, interleaved (best and spread reported).")
  var latencyRepeats = 3

  @Option(help: "Timed batch runs of each sampler (best reported).")
  var throughputRepeats = 1

  @Option(help: "Profiling: run only this sampler (partition or mdlm) once at --batch and print its time.")
  var only: String?

  @Option(help: "Profiling with --only partition: the network's sequence length (L = 128 in 16 steps runs the shapes of the first 16 steps at L = 1024).")
  var length: Int?

  @Option(help: "Profiling with --only: known tokens at the start of every row, BOS included (960 in 8 steps runs the shapes of the last 8 steps).")
  var prefixLength = 1

  @Flag(help: "Profiling with --only: print hashes of the samples and of every pass's logits (bit-identity checks).")
  var hashOutputs = false

  func run() throws {
    if let only {
      guard only == "partition" || only == "mdlm" else { throw ValidationError("--only takes partition or mdlm") }
      let sampler: any Sampler = try reportingErrors {
        if only == "partition" { return try SamplingBenchmark.partitionSampler(length: length) }
        return try SamplingBenchmark.samplers().mdlm
      }
      let t = try reportingErrors {
        try SamplingBenchmark.timed(sampler, count: batch, batch: batch, steps: steps, seed: 1, prefixLength: prefixLength,
                                    hashOutputs: hashOutputs)
      }
      if hashOutputs { print(String(format: "samples %016llx, logits %016llx", t.samplesHash, t.logitsHash)) }
      print(String(format: "%@: %.3f s (CPU %.3f s), %d passes, %.1f GFLOP/s", only, t.seconds, t.cpuSeconds,
                   t.run.networkPasses, t.run.flops / t.seconds / 1e9))
      if let few = t.firstPasses(16) {
        print(String(format: "  first 16 passes: %.3f s (CPU %.3f s), %.2f GFLOP, %.1f GFLOP/s", few.seconds, few.cpuSeconds,
                     few.flops / 1e9, few.flops / few.seconds / 1e9))
      }
      return
    }
    var bench = SamplingBenchmark()
    bench.steps = steps
    bench.batch = batch
    bench.latencyRepeats = latencyRepeats
    bench.throughputRepeats = throughputRepeats
    let f = try reportingErrors { try bench.run(progress: Output.progress) }
    if json { print(try Output.json(f)); return }
    print(String(format: "raw cblas_sgemm 2048³: %.1f GFLOP/s; load average %.2f before, %.2f after", f.sgemmGFLOPs,
                 f.loadAverageBefore, f.loadAverageAfter))
    print(String(format: "latency (batch 1):  partition %.2f s (%.1f GFLOP/s, spread ×%.2f)   MDLM %.2f s (%.1f GFLOP/s, spread ×%.2f)   ratio %.2f (median pair; best/best %.2f)",
                 f.pgmLatencySeconds, f.pgmLatencyGFLOPs, f.pgmLatencySpread, f.mdlmLatencySeconds,
                 f.mdlmLatencyGFLOPs, f.mdlmLatencySpread, f.latencyRatio, f.latencyBestRatio))
    print(String(format: "  CPU time: partition %.2f s, MDLM %.2f s, ratio %.2f; ratio of each pair: ", f.pgmLatencyCPUSeconds,
                 f.mdlmLatencyCPUSeconds, f.latencyCPURatio) + f.latencyPairRatios.map { String(format: "%.2f", $0) }.joined(separator: ", "))
    print(String(format: "  first %d passes (few-row steps): %.3f s, %.1f GFLOP/s, %.2f of sgemm", f.pgmFewRowPasses,
                 f.pgmFewRowSeconds, f.pgmFewRowGFLOPs, f.pgmFewRowSgemmFraction))
    print(String(format: "throughput (batch %d): partition %.0f tokens/s (%.1f GFLOP/s)   MDLM %.0f tokens/s (%.1f GFLOP/s)   ratio %.2f",
                 f.batch, f.pgmTokensPerSecond, f.pgmThroughputGFLOPs, f.mdlmTokensPerSecond, f.mdlmThroughputGFLOPs,
                 f.throughputRatio))
    print(String(format: "FLOP ratio %.2f (partition %.1f GFLOP, MDLM %.1f GFLOP per sample); 0.9 × that = %.2f",
                 f.flopRatio, f.pgmFLOPs / 1e9, f.mdlmFLOPs / 1e9, 0.9 * f.flopRatio))
    if let p = f.pytorchPgmLatencySeconds, let m = f.pytorchMdlmLatencySeconds,
       let ps = f.pgmSpeedupOverPytorch, let ms = f.mdlmSpeedupOverPytorch {
      print(String(format: "vs PyTorch on this machine kind (%.1f s / %.1f s): partition ×%.2f, MDLM ×%.2f", p, m, ps, ms))
    }
  }
}
