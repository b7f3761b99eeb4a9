using System.Buffers.Binary;
using System.Globalization;
using System.Text.Json.Serialization;

namespace Raid5Actors.Md;

/// <summary>
/// A 16-byte md UUID (set_uuid or device_uuid), compared by value and printed the way mdadm prints
/// it: the bytes in disk order as four groups of eight hex digits, <c>xxxxxxxx:xxxxxxxx:xxxxxxxx:xxxxxxxx</c>.
/// </summary>
[JsonConverter(typeof(MdUuidJsonConverter))]
public readonly record struct MdUuid(ulong High, ulong Low)
{
    public const int kBytes = 16;

    /// <summary>Reads 16 bytes in disk order.</summary>
    public static MdUuid FromBytes(ReadOnlySpan<byte> bytes)
    {
        if (bytes.Length < kBytes)
            throw new ArgumentException($"an md UUID is {kBytes} bytes; got {bytes.Length}", nameof(bytes));
        return new MdUuid(BinaryPrimitives.ReadUInt64BigEndian(bytes), BinaryPrimitives.ReadUInt64BigEndian(bytes[8..]));
    }

    /// <summary>Parses mdadm's form; the colons are optional, so 32 hex digits also work.</summary>
    public static MdUuid Parse(string text)
    {
        var digits = text.Replace(":", "", StringComparison.Ordinal).Trim();
        if (digits.Length != 2 * kBytes
            || !ulong.TryParse(digits.AsSpan(0, 16), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out var high)
            || !ulong.TryParse(digits.AsSpan(16, 16), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out var low))
        {
            throw new FormatException($"'{text}' is not an md UUID (xxxxxxxx:xxxxxxxx:xxxxxxxx:xxxxxxxx)");
        }

        return new MdUuid(high, low);
    }

    public void WriteTo(Span<byte> destination)
    {
        BinaryPrimitives.WriteUInt64BigEndian(destination, High);
        BinaryPrimitives.WriteUInt64BigEndian(destination[8..], Low);
    }

    public byte[] ToBytes()
    {
        var bytes = new byte[kBytes];
        WriteTo(bytes);
        return bytes;
    }

    public override string ToString() =>
        string.Create(CultureInfo.InvariantCulture, $"{High >> 32:x8}:{High & 0xffffffff:x8}:{Low >> 32:x8}:{Low & 0xffffffff:x8}");
}
