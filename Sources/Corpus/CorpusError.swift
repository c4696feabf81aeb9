import Foundation

/// Every failure of the Corpus module that is not an HDF5 or tokenizer error (those are passed
/// through unchanged: `H5Error` already names the file, object and HDF5's own message, and
/// `TokenizerError` the tokenizer file or the unknown character).
public enum CorpusError: Error, Sendable, Equatable, CustomStringConvertible {
  /// The file does not exist.
  case fileNotFound(path: String)
  /// A corpus file or folder named on the command line does not exist.
  case corpusNotFound(path: String)
  /// The tokenizer cannot be read (`reason` is the tokenizer module's message).
  case unreadableTokenizer(path: String, reason: String)
  /// The output file exists and overwriting was not asked for.
  case outputExists(path: String)
  /// An HDF5 file that lacks something every token dataset has (`reason` says what).
  case notATokenDataset(path: String, reason: String)
  /// A token dataset written with a layout version this code does not read.
  case unsupportedLayoutVersion(path: String, found: Int64, supported: Int64)
  /// The rows are `stored` tokens long, the caller expects `expected`.
  case lengthMismatch(path: String, stored: Int, expected: Int)
  /// A row read from the file holds a token outside `0 ..< vocabularySize`.
  case tokenOutsideVocabulary(path: String, split: DatasetSplit, row: Int, position: Int,
                              token: Int32, vocabularySize: Int)
  /// A requested row index is outside the split.
  case rowOutOfRange(path: String, split: DatasetSplit, row: Int, rows: Int)
  /// The caller's buffer cannot hold the rows asked for.
  case bufferTooSmall(needed: Int, available: Int)
  /// The dataset is not synthetic, so it has no Markov source.
  case noMarkovSource(path: String)
  /// A Markov source stored in a file is inconsistent (`reason` says how).
  case malformedMarkovSource(path: String, reason: String)
  /// No source satisfying the requirements could be drawn (see `MarkovSource.draw`).
  case cannotDrawSource(String)
  /// A sample handed to the metrics is not a row the source could score.
  case invalidSample(index: Int, reason: String)
  /// An argument outside its allowed range (the message says which and why).
  case invalidArgument(String)

  public var description: String {
    switch self {
    case .fileNotFound(let path):
      return "file not found: \(path)"
    case .corpusNotFound(let path):
      return "corpus file or folder not found: \(path)"
    case .unreadableTokenizer(let path, let reason):
      return "cannot read the tokenizer at \(path): \(reason)"
    case .outputExists(let path):
      return "\(path) already exists (pass --force to overwrite it)"
    case .notATokenDataset(let path, let reason):
      return "\(path) is not a token dataset of this project: \(reason)"
    case .unsupportedLayoutVersion(let path, let found, let supported):
      return "\(path) has token dataset layout version \(found); this program reads version \(supported)"
    case .lengthMismatch(let path, let stored, let expected):
      return "\(path) holds rows of \(stored) tokens, but \(expected) were expected (the model's "
        + "sequence length); rebuild the dataset with --length \(expected) or change the model"
    case .tokenOutsideVocabulary(let path, let split, let row, let position, let token, let vocabularySize):
      return "\(path): \(split.rawValue) row \(row) holds token \(token) at position \(position), "
        + "outside the vocabulary 0..<\(vocabularySize) (the file is corrupt or was written with "
        + "another tokenizer)"
    case .rowOutOfRange(let path, let split, let row, let rows):
      return "\(path): row \(row) is outside the \(split.rawValue) split's \(rows) rows"
    case .bufferTooSmall(let needed, let available):
      return "the buffer holds \(available) tokens, the rows asked for need \(needed)"
    case .noMarkovSource(let path):
      return "\(path) is not a synthetic dataset, so it has no Markov source"
    case .malformedMarkovSource(let path, let reason):
      return "\(path): the stored Markov source is inconsistent: \(reason)"
    case .cannotDrawSource(let message):
      return message
    case .invalidSample(let index, let reason):
      return "sample \(index): \(reason)"
    case .invalidArgument(let message):
      return message
    }
  }
}

extension CorpusError: LocalizedError {
  public var errorDescription: String? { description }
}
