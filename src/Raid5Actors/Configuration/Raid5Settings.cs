using System.Reflection;
using Akka.Configuration;
using Raid5Actors.Bitmap;
using Raid5Actors.Geometry;

namespace Raid5Actors.Configuration;

/// <summary>All tunables of an array, read once from the <c>raid5</c> section (see hocon/reference.conf).</summary>
public sealed record Raid5Settings(
    int StripeCacheSize,
    long StripeCacheBytes,
    TimeSpan StripeIdleTimeout,
    int MaxRequestsInFlight,
    int MaxRequestBytes,
    TimeSpan RequestTimeout,
    TimeSpan UnplugDelay,
    int MaxParkedStripes,
    int DefaultChunkBytes,
    Raid5Layout DefaultLayout,
    long BitmapChunkBytes,
    BitmapSettings Bitmap,
    SyncSettings Sync,
    string DatabaseFile)
{
    public const string kMemberDispatcherId = "raid5.member-dispatcher";

    private static readonly Lazy<Config> s_reference = new(LoadReference);

    /// <summary>The embedded reference.conf: the fallback of every configuration.</summary>
    public static Config DefaultConfig() => s_reference.Value;

    /// <summary>Reads settings from a full configuration (with <see cref="DefaultConfig"/> as fallback).</summary>
    public static Raid5Settings Create(Config? config = null)
    {
        var raid5 = (config ?? Config.Empty).WithFallback(DefaultConfig()).GetConfig("raid5");
        try
        {
            return Validated(Read(raid5));
        }
        catch (FormatException e)
        {
            // HOCON's getters name the value that did not parse, not its key.
            throw new ConfigurationException($"a raid5 setting has a malformed value: {e.Message} (see hocon/reference.conf for each key's unit)");
        }
    }

    private static Raid5Settings Read(Config raid5) =>
        new(
            Positive(raid5.GetInt("stripe-cache-size"), "stripe-cache-size"),
            Bytes(raid5, "stripe-cache-bytes"),
            raid5.GetTimeSpan("stripe-idle-timeout"),
            Positive(raid5.GetInt("max-requests-in-flight"), "max-requests-in-flight"),
            Positive(checked((int)Bytes(raid5, "max-request-bytes")), "max-request-bytes"),
            raid5.GetTimeSpan("request-timeout"),
            raid5.GetTimeSpan("unplug-delay"),
            Positive(raid5.GetInt("max-parked-stripes"), "max-parked-stripes"),
            checked((int)Bytes(raid5, "create.chunk-bytes")),
            Raid5LayoutNames.Parse(raid5.GetString("create.layout")),
            Bytes(raid5, "bitmap.chunk-bytes"),
            BitmapSettings.FromConfig(raid5.GetConfig("bitmap")),
            new SyncSettings(
                Bytes(raid5, "sync.speed-min"), Bytes(raid5, "sync.speed-max"),
                Positive(raid5.GetInt("sync.rows-in-flight"), "sync.rows-in-flight"), raid5.GetTimeSpan("sync.checkpoint-interval")),
            raid5.GetString("persistence.database-file"));

    private static Raid5Settings Validated(Raid5Settings settings)
    {
        if (settings.BitmapChunkBytes < ArrayGeometry.kPageBytes || (settings.BitmapChunkBytes & (settings.BitmapChunkBytes - 1)) != 0)
            throw new ConfigurationException($"raid5.bitmap.chunk-bytes must be a power of two of at least 4096, not {settings.BitmapChunkBytes}");
        if (settings.Sync.SpeedMinBytes <= 0 || settings.Sync.SpeedMaxBytes < settings.Sync.SpeedMinBytes)
            throw new ConfigurationException("raid5.sync.speed-min must be positive and no greater than raid5.sync.speed-max");
        if (settings.MaxRequestBytes % ArrayGeometry.kSectorBytes != 0)
            throw new ConfigurationException("raid5.max-request-bytes must be a multiple of 512");
        return settings;
    }

    /// <summary>Stripes the cache may hold for this geometry: bounded in count and in bytes.</summary>
    public int StripeCacheSizeFor(ArrayGeometry geometry) =>
        (int)Math.Clamp(StripeCacheBytes / ((long)geometry.MemberCount * geometry.ChunkBytes), 1, StripeCacheSize);

    // HOCON sizes: plain bytes or with a unit (64K, 50M, 1G; powers of 1024; kB and MB are powers of 1000).
    private static long Bytes(Config raid5, string key)
    {
        try
        {
            return raid5.GetByteSize(key) ?? throw new ConfigurationException($"raid5.{key} is missing");
        }
        catch (FormatException)
        {
            throw new ConfigurationException($"raid5.{key} = {raid5.GetString(key)} is not a size (use bytes, or e.g. 64K, 50M, 1G)");
        }
    }

    private static int Positive(int value, string key) =>
        value > 0 ? value : throw new ConfigurationException($"raid5.{key} must be positive, not {value}");

    private static Config LoadReference()
    {
        using var stream = Assembly.GetExecutingAssembly().GetManifestResourceStream("Raid5Actors.reference.conf")
            ?? throw new InvalidOperationException("embedded reference.conf is missing");
        using var reader = new StreamReader(stream);
        return ConfigurationFactory.ParseString(reader.ReadToEnd());
    }
}

/// <summary>Speed limits and pacing of resync, recovery, check and repair (md's sync_speed_min/max).</summary>
public sealed record SyncSettings(long SpeedMinBytes, long SpeedMaxBytes, int RowsInFlight, TimeSpan CheckpointInterval);
