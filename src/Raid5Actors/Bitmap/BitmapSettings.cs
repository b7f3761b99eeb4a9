using Akka.Configuration;

namespace Raid5Actors.Bitmap;

/// <summary>Tunables of the write-intent bitmap, read once from <c>raid5.bitmap</c>.</summary>
public sealed record BitmapSettings(TimeSpan DaemonSleep, int SnapshotEveryEvents, int InitialSequence, bool Enabled = true)
{
    public static BitmapSettings FromConfig(Config bitmap)
    {
        var settings = new BitmapSettings(
            bitmap.GetTimeSpan("daemon-sleep", TimeSpan.FromSeconds(5)),
            bitmap.GetInt("snapshot-every-events", 1000),
            bitmap.GetInt("initial-sequence", 0),
            bitmap.GetBoolean("enabled", true));
        if (settings.DaemonSleep <= TimeSpan.Zero)
            throw new ConfigurationException("raid5.bitmap.daemon-sleep must be positive");
        if (settings.SnapshotEveryEvents < 1)
            throw new ConfigurationException("raid5.bitmap.snapshot-every-events must be at least 1");
        return settings;
    }
}

/// <summary>Which bitmap chunks cover a member range (md indexes its raid5 bitmap by member sector).</summary>
public readonly record struct BitmapGeometry(long ChunkBytes, int ChunkCount)
{
    public static BitmapGeometry For(long memberDataBytes, long chunkBytes) =>
        new(chunkBytes, checked((int)((memberDataBytes + chunkBytes - 1) / chunkBytes)));

    public (int First, int Last) BitsCovering(long memberOffsetBytes, long lengthBytes) =>
        ((int)(memberOffsetBytes / ChunkBytes), (int)((memberOffsetBytes + lengthBytes - 1) / ChunkBytes));
}
