import Foundation

/// Every failure of the Tokenizers module, each with a message that says what and where.
public enum TokenizerError: Error, Sendable, Equatable, CustomStringConvertible {
  /// A file or folder that should exist does not.
  case fileNotFound(path: String)
  /// A file exists but its content does not have the expected format.
  case malformedFile(path: String, reason: String)
  /// A path whose tokenizer format could not be recognised.
  case unrecognizedFormat(path: String, reason: String)
  /// A tokenizer file that uses a feature this implementation does not support.
  case unsupported(path: String, feature: String)
  /// Tables that are inconsistent (missing byte tokens, merges of unknown tokens, gaps in ids, …).
  case invalidTables(reason: String)
  /// A character tokenizer met a character that is not in its vocabulary.
  case unknownCharacter(scalar: Unicode.Scalar, utf8Offset: Int)
  /// Invalid arguments (e.g. a vocabulary size too small to train).
  case invalidArgument(String)

  public var description: String {
    switch self {
    case .fileNotFound(let path):
      return "file not found: \(path)"
    case .malformedFile(let path, let reason):
      return "malformed tokenizer file \(path): \(reason)"
    case .unrecognizedFormat(let path, let reason):
      return "unrecognised tokenizer at \(path): \(reason)"
    case .unsupported(let path, let feature):
      return "unsupported tokenizer feature in \(path): \(feature)"
    case .invalidTables(let reason):
      return "invalid tokenizer tables: \(reason)"
    case .unknownCharacter(let scalar, let offset):
      let code = String(scalar.value, radix: 16, uppercase: true)
      return "character U+\(String(repeating: "0", count: max(0, 4 - code.count)))\(code) "
        + "(\(scalar.escaped(asASCII: true))) at UTF-8 offset \(offset) is not in the character "
        + "tokenizer's vocabulary"
    case .invalidArgument(let message):
      return message
    }
  }
}

extension TokenizerError: LocalizedError {
  public var errorDescription: String? { description }
}
