import Engine
import Foundation

/// What `pgm data synthetic` asks for. The defaults are the project's quickstart corpus.
public struct SyntheticDatasetOptions: Sendable {
  public var output: URL
  /// V: the symbols `0 ..< V` (BOS is V).
  public var symbols = 64
  /// B: successors allowed per context.
  public var branching = 4
  /// 1 or 2.
  public var order = 1
  /// Tokens per row, BOS included.
  public var length = 128
  /// Training rows.
  public var sequences = 16_384
  /// Validation rows, drawn independently from the same source.
  public var validationSequences = 1_024
  public var seed: UInt64 = 0
  /// Replace an existing output file.
  public var overwrite = false

  public init(output: URL) { self.output = output }
}

/// What `SyntheticDatasetBuilder.build` wrote.
public struct SyntheticDatasetSummary: Sendable, Codable {
  public var output: String
  public var symbols: Int
  public var branching: Int
  public var order: Int
  public var length: Int
  public var trainRows: Int
  public var validationRows: Int
  /// Nats per symbol.
  public var entropyRate: Double
  /// The per-token NLL the source's own rows score (`MarkovSource.expectedNLL`).
  public var expectedNLL: Double
  /// The source's mean per-sample unigram entropy at L.
  public var sampleEntropy: Double
  /// What a uniform sampler over the symbols scores: 1 − B/V.
  public var uniformForbiddenRate: Double
  public var seconds: Double
}

/// Draws a Markov source and writes its samples as a token dataset, with the source under
/// `/source`: what `pgm data synthetic` does.
///
/// Random streams, all derived from `RandomStream(seed: seed)`: the source (see
/// `MarkovSource.draw`), `"train sequences"`, `"validation sequences"`; so the same options
/// always produce the same file content.
public enum SyntheticDatasetBuilder {
  public static func build(_ options: SyntheticDatasetOptions) throws -> SyntheticDatasetSummary {
    guard options.sequences >= 1 else {
      throw CorpusError.invalidArgument("--sequences must be at least 1, got \(options.sequences)")
    }
    guard options.validationSequences >= 0 else {
      throw CorpusError.invalidArgument("--validation must not be negative, got \(options.validationSequences)")
    }
    let path = options.output.path
    if FileManager.default.fileExists(atPath: path) && !options.overwrite {
      throw CorpusError.outputExists(path: path)
    }
    let clock = ContinuousClock()
    let start = clock.now
    let source = try MarkovSource.draw(symbols: options.symbols, branching: options.branching,
                                       order: options.order, length: options.length, seed: options.seed)
    let attributes = TokenDatasetAttributes(
      kind: .synthetic, length: options.length, vocabularySize: source.vocabularySize, bosId: source.bos,
      eosId: nil, tokenizer: "markov-symbols/\(source.vocabularySize)", tokenizerPath: "", sourceFiles: [],
      seed: options.seed, splitRule: .independent, createdBy: "pgm data synthetic")
    let writer = try TokenDatasetWriter(path: path, attributes: attributes, overwrite: options.overwrite)
    do {
      try MarkovSourceFile.write(source, to: writer.file)
      let root = RandomStream(seed: options.seed)
      var statistics: [DatasetSplit: SplitStatistics] = [:]
      for (split, count) in [(DatasetSplit.train, options.sequences), (.validation, options.validationSequences)] {
        var rng = root.derive("\(split.rawValue) sequences")
        let rowWriter = writer.rows(split)
        var remaining = count
        while remaining > 0 {  // one chunk of rows at a time: memory stays small
          let n = min(remaining, rowWriter.chunkRows)
          for row in source.sample(count: n, rng: &rng) { try rowWriter.append(row: row) }
          remaining -= n
        }
        statistics[split] = SplitStatistics(rows: count, documents: 0, tokens: count * options.length, droppedTokens: 0)
      }
      try writer.finish(statistics: statistics)
    } catch {
      writer.abandon()
      throw error
    }
    return SyntheticDatasetSummary(
      output: path, symbols: source.symbols, branching: source.branching, order: source.order,
      length: source.length, trainRows: options.sequences, validationRows: options.validationSequences,
      entropyRate: source.entropyRate, expectedNLL: source.expectedNLL(), sampleEntropy: source.sampleEntropy,
      uniformForbiddenRate: 1 - Double(source.branching) / Double(source.symbols), seconds: seconds(clock.now - start))
  }
}
