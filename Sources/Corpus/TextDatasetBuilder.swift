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
  /// Memory: the token streams of both splits (one file's text at a time), plus one chunk of rows.
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

    let tokenizer: any Tokenizer
    let tokenizerPath: String
    switch options.tokenizer {
    case .characters:
      tokenizer = try CharTokenizer.train(files: files)
      tokenizerPath = characterTokenizerPath(for: options.output)
    case .file(let url):
      do {
        tokenizer = try TokenizerLoader.load(url)
      } catch let error as TokenizerError {
        throw CorpusError.unreadableTokenizer(path: url.path, reason: error.description)
      }
      tokenizerPath = url.standardizedFileURL.path
    }
    guard let bos = tokenizer.bos, let eos = tokenizer.eos else {
      throw CorpusError.invalidArgument("the tokenizer (\(tokenizer.identity)) has no \(TokenizerConstants.endOfText) "
                                          + "token to use as BOS and EOS")
    }

    // Which documents go to validation is decided from file sizes, before tokenising.
    let root = RandomStream(seed: options.seed)
    let sizes = try files.map { try fileSize($0) }
    let chosen = TextPacking.validationDocuments(sizes: sizes, fraction: options.validationFraction,
                                                 rng: root.derive("validation documents"))
    let isValidation = Set(chosen ?? [])
    var streams: [DatasetSplit: [Int32]] = [.train: [], .validation: []]
    var documentRanges: [(split: DatasetSplit, range: Range<Int>)] = []
    var textTokens = 0
    for (index, file) in files.enumerated() {
      let ids = try encode(file, with: tokenizer)
      let split: DatasetSplit = isValidation.contains(index) ? .validation : .train
      let begin = streams[split]!.count
      streams[split]!.append(contentsOf: ids)
      streams[split]!.append(eos)
      documentRanges.append((split, begin..<streams[split]!.count))
      textTokens += ids.count
    }
    let tokenizeSeconds = seconds(clock.now - start)

    let writeStart = clock.now
    var rule: SplitRule = options.validationFraction == 0 ? .none : .documents
    let splitByDocuments = chosen != nil && !isValidation.isEmpty
      && DatasetSplit.allCases.allSatisfy {
        TextPacking.rowCount(streamTokens: streams[$0]!.count, length: length) > 0
      }
    if rule == .documents && !splitByDocuments { rule = .rows }

    let attributes = TokenDatasetAttributes(
      kind: .text, length: length, vocabularySize: tokenizer.vocabularySize, bosId: bos, eosId: eos,
      tokenizer: tokenizer.identity.description, tokenizerPath: tokenizerPath,
      sourceFiles: files.map(\.path), seed: options.seed, splitRule: rule, createdBy: "pgm data text")
    let writer = try TokenDatasetWriter(path: outputPath, attributes: attributes, overwrite: options.overwrite)
    var statistics: [DatasetSplit: SplitStatistics] = [:]
    do {
      var row: [Int32] = []
      if rule != .rows {
        for split in DatasetSplit.allCases {
          let stream = streams[split]!
          let rows = TextPacking.rowCount(streamTokens: stream.count, length: length)
          var order = root.derive("order \(split.rawValue)")
          for index in order.permutation(rows) {
            TextPacking.row(index, of: stream, length: length, bos: bos, eos: eos, into: &row)
            try writer.rows(split).append(row: row)
          }
          statistics[split] = SplitStatistics(
            rows: rows, documents: documentRanges.filter { $0.split == split }.count,
            tokens: stream.count, droppedTokens: stream.count - rows * TextPacking.piece(length: length))
        }
      } else {
        // One stream of every document in reading order; a seeded choice of rows is validation.
        var stream: [Int32] = []
        stream.reserveCapacity(streams[.train]!.count + streams[.validation]!.count)
        for document in documentRanges { stream += streams[document.split]![document.range] }
        streams = [:]
        let rows = TextPacking.rowCount(streamTokens: stream.count, length: length)
        let validationRows = TextPacking.validationRowCount(rows: rows, fraction: options.validationFraction)
        var order = root.derive("validation rows")
        let permutation = order.permutation(rows)
        for (position, index) in permutation.enumerated() {
          TextPacking.row(index, of: stream, length: length, bos: bos, eos: eos, into: &row)
          try writer.rows(position < validationRows ? .validation : .train).append(row: row)
        }
        let dropped = stream.count - rows * TextPacking.piece(length: length)
        let piece = TextPacking.piece(length: length)
        statistics[.validation] = SplitStatistics(rows: validationRows, documents: 0,
                                                  tokens: validationRows * piece, droppedTokens: 0)
        statistics[.train] = SplitStatistics(rows: rows - validationRows, documents: files.count,
                                             tokens: stream.count - validationRows * piece, droppedTokens: dropped)
      }
      let validationFiles = rule == .documents ? (chosen ?? []).map { files[$0].path } : []
      try writer.finish(statistics: statistics, validationFiles: validationFiles)
      if case .characters = options.tokenizer, let characters = tokenizer as? CharTokenizer {
        let url = options.output.deletingLastPathComponent().appendingPathComponent(tokenizerPath)
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        try characters.write(to: url)
      }
      let bytes = sizes.reduce(0, +)
      return TextDatasetSummary(
        output: outputPath, files: files.count, bytes: bytes, textTokens: textTokens,
        bytesPerToken: textTokens > 0 ? Double(bytes) / Double(textTokens) : 0, splitRule: rule,
        train: statistics[.train]!, validation: statistics[.validation]!, validationFiles: validationFiles,
        tokenizer: tokenizer.identity.description, tokenizerPath: tokenizerPath,
        tokenizeSeconds: tokenizeSeconds, writeSeconds: seconds(clock.now - writeStart))
    } catch {
      writer.abandon()
      throw error
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
