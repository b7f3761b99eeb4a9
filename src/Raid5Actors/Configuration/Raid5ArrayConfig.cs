using Akka.Configuration;
using Raid5Actors.Persistence;

namespace Raid5Actors.Configuration;

/// <summary>The HOCON an ActorSystem needs to host one array: its journal plugins, the serializer, and the defaults.</summary>
public static class Raid5ArrayConfig
{
    /// <summary>Plugin id of an array's journal (an HOCON path, so the array name must be a plain word).</summary>
    public static string JournalPluginId(string arrayName) => $"raid5.persistence.plugins.{arrayName}.journal";

    public static string SnapshotPluginId(string arrayName) => $"raid5.persistence.plugins.{arrayName}.snapshot";

    /// <summary>The array's SQLite file inside its folder.</summary>
    public static string DatabasePath(string folder, Raid5Settings settings) => Path.Combine(Path.GetFullPath(folder), settings.DatabaseFile);

    /// <summary>Everything but the logger, in fallback order after the user's own configuration.</summary>
    public static Config For(string databasePath, string arrayName) =>
        SqlitePersistence.PluginConfig(databasePath, JournalPluginId(arrayName), SnapshotPluginId(arrayName))
            .WithFallback(Raid5Serializer.BindingConfig)
            .WithFallback(Raid5Settings.DefaultConfig())
            .WithFallback(SqlitePersistence.DefaultFallback);
}
