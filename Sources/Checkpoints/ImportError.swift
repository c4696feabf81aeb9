/// Why a checkpoint could not be imported (or a model folder exported). Every message names the
/// file and says what to change: which flag to pass, which names are wrong, which values disagree.
///
/// Name and shape mismatches between a checkpoint and the network are reported as
/// `WeightMismatch` (from Formats), which lists every offending name at once.
public enum ImportError: Error, Equatable, Sendable, CustomStringConvertible {
  /// The path does not exist.
  case notFound(path: String, what: String)
  /// The path exists but is neither a Lightning checkpoint nor a model folder.
  case unrecognisedSource(path: String, reason: String)
  /// A required part of the checkpoint is absent (e.g. `state_dict`).
  case missingEntry(file: String, entry: String, found: [String])
  /// `--weights ema` was asked for but the file holds no EMA weights.
  case emaUnavailable(file: String, reason: String)
  /// The EMA list does not have one tensor per network parameter.
  case emaLengthMismatch(file: String, found: Int, expected: Int)
  /// EMA tensors whose shapes differ from the parameter at the same position.
  case emaShapeMismatch(file: String, mismatches: [String])
  /// Parameter names that carry no known prefix or do not start like a reference name.
  case unknownNames(file: String, names: [String], supportedPrefixes: [String])
  /// The names describe no network this project implements.
  case unrecognisedArchitecture(file: String, reason: String)
  /// A value the weights do not determine and no configuration holds.
  case needsFlag(file: String, what: String, flag: String, why: String)
  /// The configuration, the flags and the tensor shapes disagree; every disagreement is listed.
  case inconsistent(file: String, conflicts: [String])
  /// A configuration value has the wrong type (e.g. an unresolved `${...}` interpolation).
  case invalidHyperParameter(file: String, path: String, found: String)
  /// A buffer such as `rotary_emb.inv_freq` holds values other than what the network computes.
  case bufferMismatch(file: String, name: String, reason: String)
  /// A tensor holds NaN or ±infinity.
  case nonFinite(file: String, name: String, index: Int, value: Float)
  /// A tensor of a type that cannot hold weights (integers, booleans).
  case unsupportedDType(file: String, name: String, dtype: String)
  /// A feature the checkpoint uses that this project does not implement.
  case unsupported(file: String, reason: String)

  public var description: String {
    switch self {
    case let .notFound(path, what):
      return "\(what) not found: \(path)"
    case let .unrecognisedSource(path, reason):
      return "\(path): \(reason)"
    case let .missingEntry(file, entry, found):
      let keys = found.isEmpty ? "it has no string keys" : "its top-level keys are " + found.prefix(20).joined(separator: ", ")
      return "\(file): no '\(entry)' entry (\(keys)); a PyTorch Lightning checkpoint saved by the reference code was expected"
    case let .emaUnavailable(file, reason):
      return "\(file): no EMA weights to import (\(reason)); pass --weights raw to import the trained weights in 'state_dict'"
    case let .emaLengthMismatch(file, found, expected):
      return "\(file): the EMA list ema.shadow_params holds \(found) tensors but the network has \(expected) parameters "
        + "(the EMA is matched to parameters by position, so the counts must agree); pass --weights raw to import 'state_dict' instead"
    case let .emaShapeMismatch(file, mismatches):
      return (["\(file): the EMA tensors do not line up with the network's parameters in registration order "
        + "(\(mismatches.count) mismatches); pass --weights raw to import 'state_dict' instead:"]
        + mismatches.map { "  " + $0 }).joined(separator: "\n")
    case let .unknownNames(file, names, prefixes):
      let shown = names.prefix(40).map { "  " + $0 }
      let more = names.count > 40 ? ["  … and \(names.count - 40) more"] : []
      return (["\(file): \(names.count) tensor names are not reference parameter names under a known prefix "
        + "(supported prefixes: \(prefixes.map { $0.isEmpty ? "none" : "'\($0)'" }.joined(separator: ", "))):"]
        + shown + more).joined(separator: "\n")
    case let .unrecognisedArchitecture(file, reason):
      return "\(file): \(reason)"
    case let .needsFlag(file, what, flag, why):
      return "\(file): cannot tell \(what): \(why); pass \(flag)"
    case let .inconsistent(file, conflicts):
      return (["\(file): the configuration, flags and tensor shapes disagree (\(conflicts.count) conflicts):"]
        + conflicts.map { "  " + $0 }).joined(separator: "\n")
    case let .invalidHyperParameter(file, path, found):
      return "\(file): hyper-parameter \(path) holds \(found), which is not a usable value"
    case let .bufferMismatch(file, name, reason):
      return "\(file): buffer \(name) \(reason)"
    case let .nonFinite(file, name, index, value):
      return "\(file): tensor \(name) holds a non-finite value (\(value)) at element \(index); refusing to import it"
    case let .unsupportedDType(file, name, dtype):
      return "\(file): tensor \(name) is \(dtype); weights must be F32, F16, BF16 or F64"
    case let .unsupported(file, reason):
      return "\(file): \(reason)"
    }
  }
}
