/// Element types of tensors stored in model files (safetensors dtype names).
public enum StoredElementType: String, Sendable, CaseIterable {
    case f32 = "F32", f16 = "F16", bf16 = "BF16", i8 = "I8", u8 = "U8", i32 = "I32", i64 = "I64"
    /// OCP FP8 E4M3 (PyTorch's float8_e4m3fn).
    case f8e4m3 = "F8_E4M3"

    /// Bytes per element.
    public var byteSize: Int {
        switch self {
        case .f32, .i32: return 4
        case .f16, .bf16: return 2
        case .i8, .u8, .f8e4m3: return 1
        case .i64: return 8
        }
    }
}

/// A tensor's description in a model file: element type, shape, and where its bytes are.
public struct StoredTensorInfo: Sendable, Hashable {
    public let name: String
    public let type: StoredElementType
    public let shape: [Int]
    /// Byte range within the file's data section.
    public let byteRange: Range<Int>

    /// Number of elements, the product of the shape (1 for a scalar).
    public var elementCount: Int { shape.reduce(1, *) }
}
