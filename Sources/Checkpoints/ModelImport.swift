import Formats
import Foundation
import Networks

/// Which weights of a Lightning checkpoint to import.
public enum WeightChoice: String, Codable, CaseIterable, Sendable {
  /// `ema.shadow_params`, matched by position to the parameters (what the reference evaluates
  /// and samples with).
  case ema
  /// `state_dict`, the weights the optimizer trained (what SDTT starts teacher and student from).
  case raw
}

/// How to import.
public struct ImportOptions: Sendable {
  /// nil: the EMA for a Lightning checkpoint, the only set of weights for a model folder.
  public var weights: WeightChoice?
  /// Values that the checkpoint may not state.
  public var overrides: ArchitectureOverrides

  public init(weights: WeightChoice? = nil, overrides: ArchitectureOverrides = ArchitectureOverrides()) {
    self.weights = weights
    self.overrides = overrides
  }
}

/// What an import did: printed by `pgm import`, as text or JSON.
public struct ImportSummary: Codable, Sendable {
  public let source: String
  /// "lightning" or "folder".
  public let sourceFormat: String
  /// "ema", "raw", or "folder" (a model folder holds one set of weights).
  public let weights: String
  public let namePrefix: String
  public let configLayout: String?
  public let config: ModelConfig
  public let parameterCount: Int
  public let tensorCount: Int
  /// How many tensors had each dtype before conversion to float32.
  public let sourceDTypes: [String: Int]
  public let buffersChecked: [String]
  public let emaDecay: Double?
  public let emaNumUpdates: Int?
  /// Each architecture value and where it came from.
  public let evidence: [String: String]
  public let evidenceOrder: [String]
  public let outputFolder: String

  enum CodingKeys: String, CodingKey {
    case source, sourceFormat = "source_format", weights, namePrefix = "name_prefix", configLayout = "config_layout"
    case config, parameterCount = "parameter_count", tensorCount = "tensor_count", sourceDTypes = "source_dtypes"
    case buffersChecked = "buffers_checked", emaDecay = "ema_decay", emaNumUpdates = "ema_num_updates"
    case evidence, evidenceOrder = "evidence_order", outputFolder = "output_folder"
  }

  /// A few lines for a person.
  public var text: String {
    let c = config
    let weightsText: String
    switch weights {
    case "ema": weightsText = "EMA weights (ema.shadow_params by position"
      + (emaNumUpdates.map { ", \($0) updates" } ?? "") + (emaDecay.map { ", decay \($0)" } ?? "") + ")"
    case "raw": weightsText = "raw weights (state_dict)"
    default: weightsText = "the folder's weights"
    }
    let network = c.kind == .pgm
      ? "partition network (pgm): \(c.encoderBlocks) encoder + \(c.decoderBlocks) decoder blocks, "
        + "pre-query \(c.preQueryMode.rawValue), query processor \(c.queryProcessMode.rawValue)"
      : "MDLM (mdlm): \(c.blocks) blocks"
    let dtypes = sourceDTypes.sorted { $0.key < $1.key }.map { "\($0.key) ×\($0.value)" }.joined(separator: ", ")
    let origin = sourceFormat == "lightning" ? "PyTorch Lightning checkpoint" : "model folder"
    let sizes = "V \(c.vocabSize) (mask \(c.maskIndex)), D \(c.hiddenSize), \(c.heads) heads, C \(c.condDim), "
      + "L \(c.length), MLP ratio \(c.mlpRatio), dropout \(c.dropout)"
    let prefixText = namePrefix.isEmpty ? "without prefix" : "under prefix '\(namePrefix)'"
    let parameters = "\(grouped(parameterCount)) in \(tensorCount) tensors, float32 (from \(dtypes)); names \(prefixText)"
    let buffers = buffersChecked.isEmpty ? "" : "; buffers " + buffersChecked.joined(separator: ", ")
    let layout = configLayout.map { " (config: \($0))" } ?? " (no configuration in the source)"
    var lines: [String] = []
    lines.append("imported \(source) (\(origin), \(weightsText))")
    lines.append("network:    \(network)")
    lines.append("sizes:      " + sizes)
    lines.append("parameters: " + parameters)
    lines.append("checked:    every name and shape, finite values" + buffers)
    lines.append("wrote:      \(outputFolder)/\(ModelFolder.weightsFile), \(outputFolder)/\(ModelFolder.configFile)")
    lines.append("where each value comes from" + layout + ":")
    let width = (evidenceOrder.map(\.count).max() ?? 0) + 2
    for field in evidenceOrder {
      lines.append("  " + field.padding(toLength: width, withPad: " ", startingAt: 0) + (evidence[field] ?? ""))
    }
    return lines.joined(separator: "\n")
  }
}

/// Digits in groups of three: 151373 → "151,373".
func grouped(_ n: Int) -> String {
  let digits = Array(String(n))
  var out = ""
  for (i, ch) in digits.enumerated() {
    if i > 0 && (digits.count - i) % 3 == 0 { out.append(",") }
    out.append(ch)
  }
  return out
}

/// Imports a reference checkpoint into a model folder of this project: `model.safetensors` (the
/// reference's parameter names, float32, registration order) and `config.json`.
///
/// The architecture is inferred from names and shapes and cross-checked with the checkpoint's
/// configuration and the flags (`ArchitectureInference`); every tensor is checked (all names
/// present, shapes as the network expects, finite values, a floating-point dtype) and buffers are
/// compared with what the network computes. Tensors are read and written one at a time.
public enum ModelImport {
  /// Imports `source` (a Lightning `.ckpt`, a model folder, or a `.safetensors` file) into the
  /// folder `output` (created if needed). Nothing is left in `output` if the import fails.
  @discardableResult
  public static func run(source: URL, to output: URL, options: ImportOptions = ImportOptions()) throws -> ImportSummary {
    var isDirectory: ObjCBool = false
    guard FileManager.default.fileExists(atPath: source.path, isDirectory: &isDirectory) else {
      throw ImportError.notFound(path: source.path, what: "the checkpoint")
    }

    // What the file offers: named tensors (for the architecture and the raw weights), the
    // configuration's claims, and possibly an EMA list.
    let named: TensorSource
    let claims: ArchitectureClaims
    let configLayout: String?
    var ema: LightningCheckpoint.EMA?
    let sourceFormat: String
    let weights: String
    if isDirectory.boolValue || source.pathExtension == "safetensors" {
      let folder = try HuggingFaceFolder(url: source)
      if options.weights == .ema {
        throw ImportError.emaUnavailable(file: folder.weights.file, reason: "a model folder holds a single set of weights")
      }
      (named, claims, configLayout, sourceFormat, weights) = (folder.weights, folder.claims, folder.configLayout, "folder", "folder")
    } else {
      let checkpoint = try LightningCheckpoint(url: source)
      let choice = options.weights ?? .ema
      if choice == .ema { ema = try checkpoint.ema.get() }
      named = checkpoint.stateDict
      claims = try checkpoint.hyperParameters.map { try ConfigurationClaims.fromLightning($0, file: checkpoint.file) }
        ?? ArchitectureClaims()
      configLayout = checkpoint.hyperParameters == nil ? nil : "hyper_parameters"
      (sourceFormat, weights) = ("lightning", choice.rawValue)
    }
    let file = named.file

    let found = named.tensors
    let (prefix, referenceNames) = try ParameterNaming.strip(found.map(\.name), file: file)
    let shapes = zip(referenceNames, found).map { (name: $0, shape: $1.shape) }
    let architecture = try ArchitectureInference.infer(shapes: shapes, configuration: claims,
                                                       overrides: options.overrides, file: file)
    let config = architecture.config
    let expected = try Network(config).parameters.shapes
    try WeightMismatch.check(actual: shapes.filter { !ParameterNaming.buffers.contains($0.name) }, expected: expected,
                             source: file)

    let indexOf = Dictionary(referenceNames.enumerated().map { ($1, $0) }, uniquingKeysWith: { first, _ in first })
    var buffersChecked: [String] = []
    if let i = indexOf[ParameterNaming.rotaryBuffer] {
      try BufferCheck.rotary(try named.read(i).checkedDoubles(name: found[i].name, file: file), config: config, file: file)
      buffersChecked.append("\(ParameterNaming.rotaryBuffer) (head size \(config.headDim))")
    }
    if let i = indexOf[ParameterNaming.positionBuffer] {
      try BufferCheck.positions(try named.read(i).checkedDoubles(name: found[i].name, file: file), shape: found[i].shape,
                                config: config, file: file)
      buffersChecked.append(ParameterNaming.positionBuffer)
    }

    // Where each parameter's values come from.
    let plan: [(source: TensorSource, index: Int)]
    if let ema {
      let shadow = ema.shadowParams.tensors
      guard shadow.count == expected.count else {
        throw ImportError.emaLengthMismatch(file: file, found: shadow.count, expected: expected.count)
      }
      let mismatches = zip(expected, shadow).enumerated().compactMap { i, pair -> String? in
        pair.0.shape == pair.1.shape ? nil
          : "ema.shadow_params[\(i)] has shape \(pair.1.shape), but parameter \(i) (\(pair.0.name)) is \(pair.0.shape)"
      }
      if !mismatches.isEmpty { throw ImportError.emaShapeMismatch(file: file, mismatches: mismatches) }
      plan = (0..<expected.count).map { (ema.shadowParams, $0) }
    } else {
      plan = expected.map { (named, indexOf[$0.name]!) }
    }

    var outputIsFolder: ObjCBool = false
    if FileManager.default.fileExists(atPath: output.path, isDirectory: &outputIsFolder), !outputIsFolder.boolValue {
      throw ImportError.unsupported(file: output.path, reason: "the output exists and is not a folder; --out names a folder to write")
    }
    try FileManager.default.createDirectory(at: output, withIntermediateDirectories: true)
    let metadata = ["format": "pt", "source": source.path, "weights": weights, "producer": "pgm import"]
    let writer = try SafeTensorsStreamWriter(url: output.appendingPathComponent(ModelFolder.weightsFile),
                                             layout: expected, metadata: metadata)
    var dtypes: [String: Int] = [:]
    for ((name, _), (tensorSource, index)) in zip(expected, plan) {
      let origin = tensorSource.tensors[index]
      dtypes[origin.dtype.safetensorsName, default: 0] += 1
      let label = origin.name == name ? name : "\(origin.name) (\(name))"
      try writer.append(name, try tensorSource.read(index).checkedFloats(name: label, file: file))
    }
    try writer.finish()
    try ModelFolder.writeConfig(config, to: output.appendingPathComponent(ModelFolder.configFile))

    return ImportSummary(
      source: source.path, sourceFormat: sourceFormat, weights: weights, namePrefix: prefix, configLayout: configLayout,
      config: config, parameterCount: expected.reduce(0) { $0 + $1.shape.reduce(1, *) }, tensorCount: expected.count,
      sourceDTypes: dtypes, buffersChecked: buffersChecked, emaDecay: ema?.decay, emaNumUpdates: ema?.numUpdates,
      evidence: Dictionary(architecture.evidence.map { ($0.field, $0.explained) }, uniquingKeysWith: { a, _ in a }),
      evidenceOrder: architecture.evidence.map(\.field), outputFolder: output.path)
  }
}

extension TensorData {
  /// A buffer's values in double precision (floating-point dtypes only).
  func checkedDoubles(name: String, file: String) throws -> [Double] {
    guard dtype.isFloatingPoint else {
      throw ImportError.unsupportedDType(file: file, name: name, dtype: dtype.safetensorsName)
    }
    return try doubles()
  }
}
