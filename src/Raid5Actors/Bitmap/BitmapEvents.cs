namespace Raid5Actors.Bitmap;

/// <summary>Journal events of the bitmap. Serialized by <see cref="Persistence.Raid5Serializer"/>.</summary>
public interface IBitmapEvent;

/// <summary>These bits became durable (one batch write).</summary>
public sealed record BitsSet(int[] Bits) : IBitmapEvent;

/// <summary>These bits were cleared after two idle sweeps.</summary>
public sealed record BitsCleared(int[] Bits) : IBitmapEvent;

/// <summary>The whole durable bitmap, so recovery replays only the events after it.</summary>
public sealed record BitmapSnapshot(int ChunkCount, int[] SetBits);
