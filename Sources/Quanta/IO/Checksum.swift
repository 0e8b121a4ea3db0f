import Foundation

extension Data {
    /// FNV-1a, 64 bits, as 16 hex digits: h = 0xcbf29ce484222325, then h = (h xor byte) * 0x100000001b3 per byte.
    /// The fixtures record tensor bytes by it (a stable fingerprint, not a cryptographic hash).
    public var fnv1a64: String {
        var h: UInt64 = 0xCBF2_9CE4_8422_2325
        for byte in self { h = (h ^ UInt64(byte)) &* 0x100_0000_01B3 }
        return String(format: "%016lx", h)
    }
}
