using System.Buffers.Binary;
using Akka.Actor;
using Akka.Configuration;
using Akka.Serialization;
using SerializationException = System.Runtime.Serialization.SerializationException;
using Raid5Actors.Arrays;
using Raid5Actors.Bitmap;
using Raid5Actors.Geometry;

namespace Raid5Actors.Persistence;

/// <summary>
/// Explicit, versioned binary format of everything the array journals: array metadata, bitmap
/// events and snapshots. Not the default JSON serializer: the journal must stay readable across
/// refactors, and its bytes should be small (a bitmap batch is a sorted list of bit numbers).
/// </summary>
public sealed class Raid5Serializer(ExtendedActorSystem system) : SerializerWithStringManifest(system)
{
    public const int kIdentifier = 5150;

    private const string kArrayCreated = "ArrayCreated.v1";
    private const string kBitsSet = "BitsSet.v1";
    private const string kBitsCleared = "BitsCleared.v1";
    private const string kBitmapSnapshot = "BitmapSnapshot.v1";

    /// <summary>Binds the journaled types to this serializer.</summary>
    public static Config BindingConfig { get; } = ConfigurationFactory.ParseString($$"""
        akka.actor {
          serializers { raid5 = "Raid5Actors.Persistence.Raid5Serializer, Raid5Actors" }
          serialization-bindings {
            "Raid5Actors.Arrays.ArrayCreated, Raid5Actors" = raid5
            "Raid5Actors.Bitmap.IBitmapEvent, Raid5Actors" = raid5
            "Raid5Actors.Bitmap.BitmapSnapshot, Raid5Actors" = raid5
          }
          serialization-identifiers { "Raid5Actors.Persistence.Raid5Serializer, Raid5Actors" = {{kIdentifier}} }
        }
        """);

    public override int Identifier => kIdentifier;

    public override string Manifest(object o) => o switch
    {
        ArrayCreated => kArrayCreated,
        BitsSet => kBitsSet,
        BitsCleared => kBitsCleared,
        BitmapSnapshot => kBitmapSnapshot,
        _ => throw new ArgumentException($"Raid5Serializer cannot serialize {o.GetType()}"),
    };

    public override byte[] ToBinary(object obj) => obj switch
    {
        ArrayCreated created => WriteMetadata(created.Metadata),
        BitsSet set => WriteInts(0, set.Bits),
        BitsCleared cleared => WriteInts(0, cleared.Bits),
        BitmapSnapshot snapshot => WriteInts(snapshot.ChunkCount, snapshot.SetBits),
        _ => throw new ArgumentException($"Raid5Serializer cannot serialize {obj.GetType()}"),
    };

    public override object FromBinary(byte[] bytes, string manifest) => manifest switch
    {
        kArrayCreated => new ArrayCreated(ReadMetadata(bytes)),
        kBitsSet => new BitsSet(ReadInts(bytes, out _)),
        kBitsCleared => new BitsCleared(ReadInts(bytes, out _)),
        kBitmapSnapshot => new BitmapSnapshot(ReadHeader(bytes), ReadInts(bytes, out _)),
        _ => throw new SerializationException($"unknown Raid5Serializer manifest '{manifest}'"),
    };

    // Layout: header int, count int, then count little-endian ints.
    private static byte[] WriteInts(int header, int[] values)
    {
        var bytes = new byte[8 + 4 * values.Length];
        BinaryPrimitives.WriteInt32LittleEndian(bytes, header);
        BinaryPrimitives.WriteInt32LittleEndian(bytes.AsSpan(4), values.Length);
        for (var i = 0; i < values.Length; i++)
            BinaryPrimitives.WriteInt32LittleEndian(bytes.AsSpan(8 + 4 * i), values[i]);
        return bytes;
    }

    private static int ReadHeader(byte[] bytes) => BinaryPrimitives.ReadInt32LittleEndian(bytes);

    private static int[] ReadInts(byte[] bytes, out int header)
    {
        header = ReadHeader(bytes);
        var count = BinaryPrimitives.ReadInt32LittleEndian(bytes.AsSpan(4));
        if (count < 0 || bytes.Length != 8 + 4L * count)
            throw new SerializationException($"corrupt bit list: {count} entries in {bytes.Length} bytes");
        var values = new int[count];
        for (var i = 0; i < count; i++)
            values[i] = BinaryPrimitives.ReadInt32LittleEndian(bytes.AsSpan(8 + 4 * i));
        return values;
    }

    private static byte[] WriteMetadata(ArrayMetadata m)
    {
        var bytes = new byte[80];
        var span = bytes.AsSpan();
        m.ArrayId.TryWriteBytes(span);
        BinaryPrimitives.WriteInt32LittleEndian(span[16..], m.MemberCount);
        BinaryPrimitives.WriteInt32LittleEndian(span[20..], m.ChunkBytes);
        BinaryPrimitives.WriteInt32LittleEndian(span[24..], (int)m.Layout);
        BinaryPrimitives.WriteInt64LittleEndian(span[32..], m.MemberDataBytes);
        BinaryPrimitives.WriteInt64LittleEndian(span[40..], m.DataOffsetBytes);
        BinaryPrimitives.WriteInt64LittleEndian(span[48..], m.BitmapChunkBytes);
        BinaryPrimitives.WriteInt64LittleEndian(span[56..], m.Events);
        BinaryPrimitives.WriteInt64LittleEndian(span[64..], m.CreatedUtc.ToUniversalTime().Ticks);
        return bytes;
    }

    private static ArrayMetadata ReadMetadata(byte[] bytes)
    {
        if (bytes.Length != 80)
            throw new SerializationException($"corrupt array metadata: {bytes.Length} bytes");
        var span = bytes.AsSpan();
        return new ArrayMetadata(
            new Guid(span[..16]),
            BinaryPrimitives.ReadInt32LittleEndian(span[16..]),
            BinaryPrimitives.ReadInt32LittleEndian(span[20..]),
            (Raid5Layout)BinaryPrimitives.ReadInt32LittleEndian(span[24..]),
            BinaryPrimitives.ReadInt64LittleEndian(span[32..]),
            BinaryPrimitives.ReadInt64LittleEndian(span[40..]),
            BinaryPrimitives.ReadInt64LittleEndian(span[48..]),
            BinaryPrimitives.ReadInt64LittleEndian(span[56..]),
            new DateTime(BinaryPrimitives.ReadInt64LittleEndian(span[64..]), DateTimeKind.Utc));
    }
}
