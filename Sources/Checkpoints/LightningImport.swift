import Formats
import Foundation

/// A PyTorch Lightning checkpoint as the reference code saves it (`torch.save` zip), opened
/// lazily: the pickle is decoded, tensors stay in the archive until read.
///
/// Used parts: `state_dict` (the module's parameters and buffers under `backbone.`-prefixed
/// names), `ema` (`decay`, `num_updates`, and `shadow_params`: a bare list holding one tensor per
/// parameter, in the order the network registers them), and `hyper_parameters` (what
/// `save_hyperparameters()` stored: the Hydra `config` as an OmegaConf `DictConfig`, and
/// `vocab_size`). Optimizer states, loops and callbacks are never read.
struct LightningCheckpoint {
  /// The EMA weights and their bookkeeping.
  struct EMA {
    let shadowParams: TorchTensorSource
    let decay: Double?
    let numUpdates: Int?
  }

  let file: String
  let stateDict: TorchTensorSource
  /// The EMA, or why there is none.
  let ema: Result<EMA, ImportError>
  /// `hyper_parameters`, converted to a plain tree (nil when absent).
  let hyperParameters: ConfigNode?

  init(url: URL) throws {
    let checkpoint: TorchCheckpoint
    do { checkpoint = try TorchCheckpoint(url: url) } catch let error as TorchCheckpointError {
      if case .notAZip = error.problem {
        throw ImportError.unrecognisedSource(path: url.path, reason: "neither a model folder, a .safetensors file nor a "
          + "PyTorch Lightning checkpoint (a torch.save zip archive): \(error)")
      }
      throw error
    }
    let file = checkpoint.fileName
    self.file = file
    let topKeys = checkpoint.root.dictValue?.stringKeys ?? []

    guard let stateValue = checkpoint["state_dict"] else {
      throw ImportError.missingEntry(file: file, entry: "state_dict", found: topKeys)
    }
    guard let state = stateValue.dictValue else {
      throw ImportError.unrecognisedSource(path: file, reason: "'state_dict' is \(stateValue), not a dict of tensors")
    }
    var references: [(name: String, tensor: TorchTensorRef)] = []
    var notTensors: [String] = []
    for entry in state.entries {
      guard let name = entry.key.stringValue else { notTensors.append(String(describing: entry.key)); continue }
      if let tensor = entry.value.tensorValue { references.append((name, tensor)) } else { notTensors.append(name) }
    }
    if !notTensors.isEmpty {
      throw ImportError.unrecognisedSource(path: file, reason: "'state_dict' holds entries that are not tensors: "
        + notTensors.prefix(20).joined(separator: ", "))
    }
    stateDict = TorchTensorSource(checkpoint: checkpoint, references: references)
    ema = Self.readEMA(checkpoint, file: file)
    hyperParameters = checkpoint["hyper_parameters"].map { ConfigNode(pickle: $0) }
  }

  /// The EMA state if it is usable; otherwise the reason, for an error that suggests `--weights raw`.
  static func readEMA(_ checkpoint: TorchCheckpoint, file: String) -> Result<EMA, ImportError> {
    func unavailable(_ reason: String) -> Result<EMA, ImportError> { .failure(.emaUnavailable(file: file, reason: reason)) }
    guard let value = checkpoint["ema"] else { return unavailable("the checkpoint has no 'ema' entry (trained with training.ema = 0?)") }
    if value == .none { return unavailable("'ema' is None") }
    guard let shadow = value["shadow_params"] else { return unavailable("'ema' has no 'shadow_params'") }
    guard let items = shadow.elements, case .list = shadow else { return unavailable("ema.shadow_params is \(shadow), not a list") }
    var references: [(name: String, tensor: TorchTensorRef)] = []
    for (i, item) in items.enumerated() {
      guard let tensor = item.tensorValue else { return unavailable("ema.shadow_params[\(i)] is \(item), not a tensor") }
      references.append(("ema.shadow_params[\(i)]", tensor))
    }
    return .success(EMA(shadowParams: TorchTensorSource(checkpoint: checkpoint, references: references),
                        decay: value["decay"]?.doubleValue, numUpdates: value["num_updates"]?.intValue.map { Int($0) }))
  }
}
