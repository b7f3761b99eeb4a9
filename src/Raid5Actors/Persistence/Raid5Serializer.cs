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

    private const string kArrayMetadata = "ArrayMetadata.v1";
    private const string kBitsSet = "BitsSet.v1";
    private const string kBitsCleared = "BitsCleared.v1";
    private const string kBitmapSnapshot = "BitmapSnapshot.v1";

    /// <summary>Binds the journaled types to this serializer.</summary>
    public static Config BindingConfig { get; } = ConfigurationFactory.ParseString($$"""
        akka.actor {
          serializers { raid5 = "Raid5Actors.Persistence.Raid5Serializer, Raid5Actors" }
          serialization-bindings {
            "Raid5Actors.Arrays.ArrayMetadataRecorded, Raid5Actors" = raid5
            "Raid5Actors.Bitmap.IBitmapEvent, Raid5Actors" = raid5
            "Raid5Actors.Bitmap.BitmapSnapshot, Raid5Actors" = raid5
          }
          serialization-identifiers { "Raid5Actors.Persistence.Raid5Serializer, Raid5Actors" = {{kIdentifier}} }
        }
        """);

    public override int Identifier => kIdentifier;

    public override string Manifest(object o) => o switch
    {
        ArrayMetadataRecorded => kArrayMetadata,
        BitsSet => kBitsSet,
        BitsCleared => kBitsCleared,
        BitmapSnapshot => kBitmapSnapshot,
        _ => throw new ArgumentException($"Raid5Serializer cannot serialize {o.GetType()}"),
    };

    public override byte[] ToBinary(object obj) => obj switch
    {
        ArrayMetadataRecorded recorded => WriteMetadata(recorded.Metadata),
        BitsSet set => WriteInts(0, set.Bits),
        BitsCleared cleared => WriteInts(0, cleared.Bits),
        BitmapSnapshot snapshot => WriteInts(snapshot.ChunkCount, snapshot.SetBits),
        _ => throw new ArgumentException($"Raid5Serializer cannot serialize {obj.GetType()}"),
    };

    public override object FromBinary(byte[] bytes, string manifest) => manifest switch
    {
        kArrayMetadata => new ArrayMetadataRecorded(ReadMetadata(bytes)),
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
        using var stream = new MemoryStream();
        using (var w = new BinaryWriter(stream))
        {
            w.Write(m.ArrayId.ToByteArray());
            w.Write(m.MemberCount);
            w.Write(m.ChunkBytes);
            w.Write((int)m.Layout);
            w.Write(m.MemberDataBytes);
            w.Write(m.DataOffsetBytes);
            w.Write(m.BitmapChunkBytes);
            w.Write(m.Events);
            w.Write(m.CreatedUtc.ToUniversalTime().Ticks);
            w.Write(m.Clean);
            w.Write(m.MinSuperblockEvents);
            w.Write(m.EventsCleared);
            w.Write(m.Slots.Count);
            foreach (var slot in m.Slots)
            {
                w.Write(slot.Role);
                w.Write(slot.Device);
                w.Write((byte)slot.State);
                w.Write(slot.RebuiltRows);
                w.Write(slot.FromBitmap);
            }
            w.Write(m.Spares.Count);
            foreach (var spare in m.Spares)
                w.Write(spare);
        }
        return stream.ToArray();
    }

    private static ArrayMetadata ReadMetadata(byte[] bytes)
    {
        try
        {
            using var r = new BinaryReader(new MemoryStream(bytes));
            var id = new Guid(r.ReadBytes(16));
            int members = r.ReadInt32(), chunk = r.ReadInt32();
            var layout = (Raid5Layout)r.ReadInt32();
            long dataBytes = r.ReadInt64(), dataOffset = r.ReadInt64(), bitmapChunk = r.ReadInt64(), events = r.ReadInt64();
            var created = new DateTime(r.ReadInt64(), DateTimeKind.Utc);
            var clean = r.ReadBoolean();
            long minSuperblock = r.ReadInt64(), eventsCleared = r.ReadInt64();
            var slots = new SlotRecord[r.ReadInt32()];
            for (var i = 0; i < slots.Length; i++)
                slots[i] = new SlotRecord(r.ReadInt32(), r.ReadInt32(), (MemberState)r.ReadByte(), r.ReadInt64(), r.ReadBoolean());
            var spares = new int[r.ReadInt32()];
            for (var i = 0; i < spares.Length; i++)
                spares[i] = r.ReadInt32();
            if (r.BaseStream.Position != bytes.Length)
                throw new SerializationException($"corrupt array metadata: {bytes.Length - r.BaseStream.Position} trailing bytes");
            return new ArrayMetadata(id, members, chunk, layout, dataBytes, dataOffset, bitmapChunk, events, created,
                slots, spares, clean, minSuperblock, eventsCleared);
        }
        catch (EndOfStreamException e)
        {
            throw new SerializationException($"corrupt array metadata: truncated at {bytes.Length} bytes", e);
        }
    }
}
