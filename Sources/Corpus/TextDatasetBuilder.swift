import Engine
import Foundation
import Tokenizers

/// Which tokenizer `TextDatasetBuilder` uses.
public enum TextTokenizerChoice: Sendable, Equatable {
  /// A character tokenizer built from the corpus and saved beside the output
  /// (`F.h5` → `F.tokenizer/char-tokenizer.json`).
  case characters
  /// Any tokenizer `TokenizerLoader.load` reads (a file or a folder).
  case file(URL)
}

/// What `pgm data text` asks for.
public struct TextDatasetOptions: Sendable {
  /// Files, or folders standing for every non-hidden regular file under them (sorted by path).
  public var corpus: [URL]
  public var tokenizer: TextTokenizerChoice
  /// Tokens per row, L ≥ 3.
  public var length: Int
  public var output: URL
  /// About this fraction of the text goes to validation, 0 ..< 1 (see `TextPacking`).
  public var validationFraction: Double = 0.05
  public var seed: UInt64 = 0
  /// Replace an existing output file.
  public var overwrite = false

  public init(corpus: [URL], tokenizer: TextTokenizerChoice, length: Int, output: URL,
              validationFraction: Double = 0.05, seed: UInt64 = 0, overwrite: Bool = false) {
    self.corpus = corpus
    self.tokenizer = tokenizer
    self.length = length
    self.output = output
    self.validationFraction = validationFraction
    self.seed = seed
    self.overwrite = overwrite
  }
}

/// What `TextDatasetBuilder.build` wrote.
public struct TextDatasetSummary: Sendable, Codable {
  public var output: String
  public var files: Int
  public var bytes: Int
  /// Text tokens (EOS not counted).
  public var textTokens: Int
  /// Bytes of text per text token.
  public var bytesPerToken: Double
  public var splitRule: SplitRule
  public var train: SplitStatistics
  public var validation: SplitStatistics
  public var validationFiles: [String]
  public var tokenizer: String
  /// As stored in the file (see `TokenDatasetAttributes.tokenizerPath`).
  public var tokenizerPath: String
  /// Seconds reading and tokenising the files, then writing the HDF5 file.
  public var tokenizeSeconds: Double
  public var writeSeconds: Double
}

/// Tokenises text files into a token dataset: what `pgm data text` does.
public enum TextDatasetBuilder {
  /// Where the character tokenizer of an output file is saved, relative to the output's folder.
  public static func characterTokenizerPath(for output: URL) -> String {
    var name = output.lastPathComponent
    if name.hasSuffix(".h5") { name.removeLast(3) }
    return name + ".tokenizer/" + CharTokenizer.fileName
  }

  /// Builds the dataset (see `TextPacking` for the rules and `TokenDatasetLayout` for the file).
  ///
  /// The split: whole documents when there are two or more and the fraction is positive
  /// (`TextPacking.validationDocuments`); one packed stream cut by rows when there is a single
  /// document, or when the document split would leave a split without a single row (validation
  /// documents shorter than L − 2 tokens in all); no validation when the fraction is 0.
  ///
  /// Memory: the token streams of both splits (one file's text at a time), plus one chunk of rows;
  /// twice the streams, briefly, when the document split falls back to a row split.
  public static func build(_ options: TextDatasetOptions) throws -> TextDatasetSummary {
    let length = options.length
    guard length >= 3 else {
      throw CorpusError.invalidArgument("--length must be at least 3 (BOS, one token, EOS), got \(length)")
    }
    guard options.validationFraction >= 0, options.validationFraction < 1 else {
      throw CorpusError.invalidArgument("--validation-fraction must be in [0, 1), got \(options.validationFraction)")
    }
    guard !options.corpus.isEmpty else { throw CorpusError.invalidArgument("give at least one corpus file or folder") }
    let outputPath = options.output.path
    if FileManager.default.fileExists(atPath: outputPath) && !options.overwrite {
      throw CorpusError.outputExists(path: outputPath)
    }
    let files: [URL]
    do {
      files = try CorpusFiles.expand(options.corpus)
    } catch TokenizerError.fileNotFound(let path) {
      throw CorpusError.corpusNotFound(path: path)
    }
    let clock = ContinuousClock()
    let start = clock.now
    let (tokenizer, tokenizerPath) = try tokenizer(options, files: files)
    guard let bos = tokenizer.bos, let eos = tokenizer.eos else {
      throw CorpusError.invalidArgument("the tokenizer (\(tokenizer.identity)) has no \(TokenizerConstants.endOfText) "
                                          + "token to use as BOS and EOS")
    }

    // Which documents go to validation is decided from file sizes, before tokenising, so that
    // each file's tokens go straight into its split's stream.
    let root = RandomStream(seed: options.seed)
    let sizes = try files.map { try fileSize($0) }
    let chosen = TextPacking.validationDocuments(sizes: sizes, fraction: options.validationFraction,
                                                 rng: root.derive("validation documents"))
    var streams = try SplitStreams(files: files, validation: Set(chosen ?? []), tokenizer: tokenizer, eos: eos)
    let tokenizeSeconds = seconds(clock.now - start)

    let writeStart = clock.now
    let rowsIn = { (split: DatasetSplit) in TextPacking.rowCount(streamTokens: streams[split].count, length: length) }
    let rule: SplitRule
    if options.validationFraction == 0 {
      rule = .none
    } else if let chosen, !chosen.isEmpty, rowsIn(.train) > 0, rowsIn(.validation) > 0 {
      rule = .documents
    } else {
      rule = .rows
    }
    let attributes = TokenDatasetAttributes(
      kind: .text, length: length, vocabularySize: tokenizer.vocabularySize, bosId: bos, eosId: eos,
      tokenizer: tokenizer.identity.description, tokenizerPath: tokenizerPath,
      sourceFiles: files.map(\.path), seed: options.seed, splitRule: rule, createdBy: "pgm data text")
    let writer = try TokenDatasetWriter(path: outputPath, attributes: attributes, overwrite: options.overwrite)
    do {
      let packing = Packing(length: length, bos: bos, eos: eos, writer: writer)
      let statistics = rule == .rows
        ? try packing.writeSplitByRows(streams.joinedInReadingOrder(), documents: files.count,
                                       fraction: options.validationFraction, rng: root.derive("validation rows"))
        : try packing.writeSplitByDocuments(streams, root: root)
      let validationFiles = rule == .documents ? (chosen ?? []).map { files[$0].path } : []
      try writer.finish(statistics: statistics, validationFiles: validationFiles)
      if case .characters = options.tokenizer, let characters = tokenizer as? CharTokenizer {
        let url = options.output.deletingLastPathComponent().appendingPathComponent(tokenizerPath)
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        try characters.write(to: url)
      }
      let bytes = sizes.reduce(0, +)
      return TextDatasetSummary(
        output: outputPath, files: files.count, bytes: bytes, textTokens: streams.textTokens,
        bytesPerToken: streams.textTokens > 0 ? Double(bytes) / Double(streams.textTokens) : 0, splitRule: rule,
        train: statistics[.train]!, validation: statistics[.validation]!, validationFiles: validationFiles,
        tokenizer: tokenizer.identity.description, tokenizerPath: tokenizerPath,
        tokenizeSeconds: tokenizeSeconds, writeSeconds: seconds(clock.now - writeStart))
    } catch {
      writer.abandon()
      throw error
    }
  }

  /// The tokenizer and the path recorded for it: a character tokenizer of the corpus (saved later
  /// beside the output, so recorded relative to the output's folder), or one read from a file.
  private static func tokenizer(_ options: TextDatasetOptions, files: [URL]) throws -> (any Tokenizer, String) {
    switch options.tokenizer {
    case .characters:
      return (try CharTokenizer.train(files: files), characterTokenizerPath(for: options.output))
    case .file(let url):
      do {
        return (try TokenizerLoader.load(url), url.standardizedFileURL.path)
      } catch let error as TokenizerError {
        throw CorpusError.unreadableTokenizer(path: url.path, reason: error.description)
      }
    }
  }

  /// Writes packed rows in a seeded random order.
  private struct Packing {
    let length: Int
    let bos: Int32
    let eos: Int32
    let writer: TokenDatasetWriter

    /// Each split's stream is packed on its own; rows are shuffled within the split.
    func writeSplitByDocuments(_ streams: SplitStreams, root: RandomStream) throws -> [DatasetSplit: SplitStatistics] {
      var statistics: [DatasetSplit: SplitStatistics] = [:]
      var row: [Int32] = []
      for split in DatasetSplit.allCases {
        let stream = streams[split]
        let rows = TextPacking.rowCount(streamTokens: stream.count, length: length)
        var order = root.derive("order \(split.rawValue)")
        for index in order.permutation(rows) {
          TextPacking.row(index, of: stream, length: length, bos: bos, eos: eos, into: &row)
          try writer.rows(split).append(row: row)
        }
        statistics[split] = SplitStatistics(
          rows: rows, documents: streams.documents(split), tokens: stream.count,
          droppedTokens: stream.count - rows * TextPacking.piece(length: length))
      }
      return statistics
    }

    /// One stream is packed; the first rows of a seeded permutation are validation, the rest train
    /// (each in that permuted order).
    func writeSplitByRows(_ stream: [Int32], documents: Int, fraction: Double, rng: RandomStream) throws
      -> [DatasetSplit: SplitStatistics]
    {
      let piece = TextPacking.piece(length: length)
      let rows = TextPacking.rowCount(streamTokens: stream.count, length: length)
      let validationRows = TextPacking.validationRowCount(rows: rows, fraction: fraction)
      var rng = rng
      var row: [Int32] = []
      for (position, index) in rng.permutation(rows).enumerated() {
        TextPacking.row(index, of: stream, length: length, bos: bos, eos: eos, into: &row)
        try writer.rows(position < validationRows ? .validation : .train).append(row: row)
      }
      return [
        .validation: SplitStatistics(rows: validationRows, documents: 0, tokens: validationRows * piece,
                                     droppedTokens: 0),
        .train: SplitStatistics(rows: rows - validationRows, documents: documents,
                                tokens: stream.count - validationRows * piece,
                                droppedTokens: stream.count - rows * piece),
      ]
    }
  }

  /// The token streams of the two splits: each document's ids followed by EOS, documents in
  /// reading order, and where each document lies.
  private struct SplitStreams {
    private var streams: [DatasetSplit: [Int32]] = [.train: [], .validation: []]
    private var placement: [(split: DatasetSplit, range: Range<Int>)] = []
    private(set) var textTokens = 0

    init(files: [URL], validation: Set<Int>, tokenizer: any Tokenizer, eos: Int32) throws {
      for (index, file) in files.enumerated() {
        let ids = try TextDatasetBuilder.encode(file, with: tokenizer)
        let split: DatasetSplit = validation.contains(index) ? .validation : .train
        let begin = streams[split]!.count
        streams[split]!.append(contentsOf: ids)
        streams[split]!.append(eos)
        placement.append((split, begin..<streams[split]!.count))
        textTokens += ids.count
      }
    }

    subscript(split: DatasetSplit) -> [Int32] { streams[split]! }

    func documents(_ split: DatasetSplit) -> Int { placement.filter { $0.split == split }.count }

    /// Every document in reading order as one stream (for a row split). Empties the split streams.
    mutating func joinedInReadingOrder() -> [Int32] {
      var stream: [Int32] = []
      stream.reserveCapacity(streams.values.reduce(0) { $0 + $1.count })
      for document in placement { stream += streams[document.split]![document.range] }
      streams = [.train: [], .validation: []]
      return stream
    }
  }

  /// The ids of one file. Byte-level BPE encodes the raw bytes (any file works); other tokenizers
  /// need UTF-8 text.
  static func encode(_ file: URL, with tokenizer: any Tokenizer) throws -> [Int32] {
    let data = try Data(contentsOf: file)
    if let bpe = tokenizer as? BPETokenizer { return bpe.encode(bytes: [UInt8](data)) }
    guard let text = String(data: data, encoding: .utf8) else {
      throw CorpusError.invalidArgument("\(file.path) is not UTF-8 text")
    }
    do {
      return try tokenizer.encode(text)
    } catch let error as TokenizerError {
      throw CorpusError.invalidArgument("\(file.path): \(error)")
    }
  }

  static func fileSize(_ url: URL) throws -> Int {
    let attributes = try FileManager.default.attributesOfItem(atPath: url.path)
    return (attributes[.size] as? NSNumber)?.intValue ?? 0
  }
}

func seconds(_ duration: Duration) -> Double {
  let parts = duration.components
  return Double(parts.seconds) + Double(parts.attoseconds) * 1e-18
}
