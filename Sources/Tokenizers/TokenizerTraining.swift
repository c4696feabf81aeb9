import Foundation

/// The kinds of tokenizer that can be trained.
public enum TrainableTokenizerKind: String, Sendable, CaseIterable {
  case bpe
  case char
}

/// What `TokenizerTraining.train` did.
public struct TokenizerTrainingSummary: Sendable {
  public var kind: TrainableTokenizerKind
  public var vocabularySize: Int
  public var identity: TokenizerIdentity
  public var files: [URL]
  public var corpusBytes: Int
  /// Set for BPE when the corpus ran out of pairs before the requested size.
  public var stoppedEarly: Bool
  public var seconds: Double
  /// The files written.
  public var written: [URL]
}

/// Trains a tokenizer on corpus files and writes it to a folder: what `pgm tokenizer train` does.
public enum TokenizerTraining {
  /// - Parameters:
  ///   - corpus: files, or folders whose files are all read.
  ///   - vocabularySize: required for BPE (tokens including `<|endoftext|>`); for characters it is
  ///     set by the corpus and, if given, only checked.
  ///   - directory: BPE writes `vocab.json`, `merges.txt` and `tokenizer.json`; characters write
  ///     `char-tokenizer.json`.
  public static func train(corpus: [URL], kind: TrainableTokenizerKind, vocabularySize: Int?,
                           minimumPairCount: Int = 2, to directory: URL) throws -> TokenizerTrainingSummary {
    let files = try CorpusFiles.expand(corpus)
    guard !files.isEmpty else { throw TokenizerError.invalidArgument("no corpus files given") }
    let clock = ContinuousClock()
    let start = clock.now
    switch kind {
    case .bpe:
      guard let vocabularySize else {
        throw TokenizerError.invalidArgument("a BPE tokenizer needs a vocabulary size (--vocab-size)")
      }
      let result = try BPETrainer.train(files: files, vocabularySize: vocabularySize, minimumPairCount: minimumPairCount)
      try TokenizerLoader.writeAllFormats(result.model, to: directory)
      let tokenizer = BPETokenizer(model: result.model)
      return TokenizerTrainingSummary(
        kind: kind, vocabularySize: tokenizer.vocabularySize, identity: tokenizer.identity, files: files,
        corpusBytes: result.bytes, stoppedEarly: result.stoppedEarly, seconds: seconds(since: start, clock),
        written: ["vocab.json", "merges.txt", "tokenizer.json"].map { directory.appendingPathComponent($0) })
    case .char:
      let tokenizer = try CharTokenizer.train(files: files)
      if let vocabularySize, vocabularySize != tokenizer.vocabularySize {
        throw TokenizerError.invalidArgument(
          "the corpus has \(tokenizer.scalars.count) distinct characters, so a character vocabulary of "
            + "\(tokenizer.vocabularySize) (with <|endoftext|>), not \(vocabularySize); omit --vocab-size for characters")
      }
      let url = directory.appendingPathComponent(CharTokenizer.fileName)
      try tokenizer.write(to: url)
      let bytes = try files.reduce(0) { $0 + (try FileIO.readBytes($1).count) }
      return TokenizerTrainingSummary(
        kind: kind, vocabularySize: tokenizer.vocabularySize, identity: tokenizer.identity, files: files,
        corpusBytes: bytes, stoppedEarly: false, seconds: seconds(since: start, clock), written: [url])
    }
  }

  static func seconds(since start: ContinuousClock.Instant, _ clock: ContinuousClock) -> Double {
    let elapsed = clock.now - start
    return Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) * 1e-18
  }
}
